import { connect, type Socket } from 'node:net';

import { connect as tlsConnect, type TLSSocket } from 'node:tls';

/**
 * The line layer of the test clients: reply lines exactly as a mailer would see
 * them (a full client library would interpret them away), over plain TCP,
 * STARTTLS or implicit TLS.
 */
export class SmtpLineClient {
  private buffer = '';
  private waiters: Array<(line: string) => void> = [];
  private lines: string[] = [];
  closed = false;
  private markClosed!: () => void;
  private readonly closing = new Promise<void>((resolve) => (this.markClosed = resolve));

  constructor(protected socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  /** Connects; the greeting is the first reply(). */
  static async connect(port: number, options: { localAddress?: string; implicitTls?: { ca: string | Buffer } } = {}): Promise<SmtpLineClient> {
    return new SmtpLineClient(await SmtpLineClient.socketTo(port, options));
  }

  protected static async socketTo(port: number, options: { localAddress?: string; implicitTls?: { ca: string | Buffer } }): Promise<Socket | TLSSocket> {
    const { implicitTls, localAddress } = options;
    const socket = implicitTls
      ? tlsConnect({ port, host: '127.0.0.1', ca: implicitTls.ca, servername: 'localhost', ...(localAddress ? { localAddress } : {}) })
      : connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once(implicitTls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return socket;
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      let i: number;
      while ((i = this.buffer.indexOf('\r\n')) >= 0) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 2);
        const waiter = this.waiters.shift();
        if (waiter) waiter(line);
        else this.lines.push(line);
      }
    });
    socket.on('close', () => {
      if (socket !== this.socket) return;
      this.closed = true;
      this.markClosed();
      for (const w of this.waiters.splice(0)) w('(connection closed)');
    });
    socket.on('error', () => undefined);
  }

  /** Resolves once the connection has closed, whichever side closed it. */
  whenClosed(): Promise<void> {
    return this.closing;
  }

  /** This end's port: the server sees it as the session's remotePort. */
  get localPort(): number {
    return this.socket.localPort!;
  }

  private line(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.closed) return Promise.resolve('(connection closed)');
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The next reply: every line of a multi-line reply, the last one last. */
  async replyLines(): Promise<string[]> {
    const all: string[] = [];
    for (;;) {
      const line = await this.line();
      all.push(line);
      if (!/^\d{3}-/.test(line)) return all;
    }
  }

  /** The last line of the next reply ("250 …"), or "(connection closed)". */
  async reply(): Promise<string> {
    const lines = await this.replyLines();
    return lines[lines.length - 1]!;
  }

  async command(line: string): Promise<string> {
    this.socket.write(line + '\r\n');
    return this.reply();
  }

  writeRaw(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** STARTTLS and the handshake (no EHLO after it). Resolves with the reply to STARTTLS; throws if the handshake fails. */
  async starttls(ca: string | Buffer): Promise<string> {
    const answer = await this.command('STARTTLS');
    if (!answer.startsWith('220')) return answer;
    const plain = this.socket;
    plain.removeAllListeners('data');
    const secure = tlsConnect({ socket: plain as Socket, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
    return answer;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The plain mailer of most tests: open (greeting read), send, quit. */
export class TestSmtpClient extends SmtpLineClient {
  static async open(port: number): Promise<{ client: TestSmtpClient; greeting: string }> {
    const client = new TestSmtpClient(await SmtpLineClient.socketTo(port, {}));
    const greeting = await client.reply();
    return { client, greeting };
  }

  /** MAIL, RCPT…, DATA and the message; returns every reply, the last one being the answer to the dot. */
  async send(
    mailFrom: string,
    rcptTo: readonly string[],
    message: string | Buffer,
    /** ESMTP parameters as written after the address: `mail` for MAIL FROM, `rcpt` by recipient. */
    params: { readonly mail?: string; readonly rcpt?: Readonly<Record<string, string>> } = {},
  ): Promise<{ rcpt: string[]; data: string; final: string }> {
    const mail = await this.command(`MAIL FROM:<${mailFrom}>${params.mail ? ` ${params.mail}` : ''}`);
    if (!mail.startsWith('250')) return { rcpt: [], data: mail, final: mail };
    const rcpt: string[] = [];
    for (const r of rcptTo) rcpt.push(await this.command(`RCPT TO:<${r}>${params.rcpt?.[r] ? ` ${params.rcpt[r]}` : ''}`));
    const data = await this.command('DATA');
    if (!data.startsWith('354')) return { rcpt, data, final: data };
    const bytes = Buffer.isBuffer(message) ? message : Buffer.from(message, 'utf8');
    this.socket.write(dotStuff(bytes));
    const endsWithCrlf = bytes.length >= 2 && bytes[bytes.length - 2] === 0x0d && bytes[bytes.length - 1] === 0x0a;
    this.socket.write(endsWithCrlf ? '.\r\n' : '\r\n.\r\n');
    return { rcpt, data, final: await this.reply() };
  }

  async quit(): Promise<void> {
    if (!this.closed) await this.command('QUIT').catch(() => undefined);
    this.close();
  }
}

function dotStuff(message: Buffer): Buffer {
  const text = message.toString('latin1');
  // Stuff a dot after any line break a server might honour (CRLF, bare LF, bare CR).
  return Buffer.from(text.replace(/(^|\r\n|\n|\r)\./g, '$1..'), 'latin1');
}

/** One message over a fresh connection, as most application mailers do. */
export async function sendOnce(port: number, mailFrom: string, rcptTo: readonly string[], message: string | Buffer) {
  const { client } = await TestSmtpClient.open(port);
  await client.command('EHLO mailer.test');
  const result = await client.send(mailFrom, rcptTo, message);
  await client.quit();
  return result;
}
