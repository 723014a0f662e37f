import { connect, type Socket } from 'node:net';

/**
 * A deliberately plain SMTP client for tests: it shows the exact reply lines a
 * mailer would see, which a full client library would interpret away.
 */
export class TestSmtpClient {
  private buffer = '';
  private waiters: Array<(line: string) => void> = [];
  private lines: string[] = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let i: number;
      while ((i = this.buffer.indexOf('\r\n')) >= 0) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 2);
        // Multi-line replies: only the last line ("250 ...") completes a reply.
        if (/^\d{3}-/.test(line)) continue;
        const waiter = this.waiters.shift();
        if (waiter) waiter(line);
        else this.lines.push(line);
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w('(connection closed)');
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number, host = '127.0.0.1'): Promise<{ client: TestSmtpClient; greeting: string }> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new TestSmtpClient(socket);
    const greeting = await client.reply();
    return { client, greeting };
  }

  reply(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.closed) return Promise.resolve('(connection closed)');
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async command(line: string): Promise<string> {
    this.socket.write(line + '\r\n');
    return this.reply();
  }

  writeRaw(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** MAIL, RCPT…, DATA and the message; returns every reply, the last one being the answer to the dot. */
  async send(mailFrom: string, rcptTo: readonly string[], message: string | Buffer): Promise<{ rcpt: string[]; data: string; final: string }> {
    const mail = await this.command(`MAIL FROM:<${mailFrom}>`);
    if (!mail.startsWith('250')) return { rcpt: [], data: mail, final: mail };
    const rcpt: string[] = [];
    for (const r of rcptTo) rcpt.push(await this.command(`RCPT TO:<${r}>`));
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
    this.socket.destroy();
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
