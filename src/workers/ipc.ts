// Requests, answers and one-way notes between the primary and one worker over
// node:cluster's IPC channel (worker.send / process.send). Messages are plain
// JSON objects tagged `mg`, so prom-client's or Node's own cluster messages on
// the same channel are left alone.

type Handler = (body: unknown) => unknown;

interface Request {
  readonly mg: 'req';
  readonly id: number;
  readonly kind: string;
  readonly body: unknown;
}
interface Answer {
  readonly mg: 'res';
  readonly id: number;
  readonly ok: boolean;
  readonly body: unknown;
}
interface Note {
  readonly mg: 'note';
  readonly kind: string;
  readonly body: unknown;
}

/** The far end went away (the worker died, or the primary): nothing sent now can be answered. */
export class ChannelClosedError extends Error {
  override readonly name = 'ChannelClosedError';
}

export type Send = (message: unknown, done: (err: Error | null) => void) => void;

export class IpcChannel {
  private nextId = 1;
  private closed = false;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly handlers = new Map<string, Handler>();
  private readonly noteHandlers = new Map<string, (body: unknown) => void>();

  constructor(private readonly send: Send) {}

  /** The worker's end: the process's own channel to the primary. */
  static toPrimary(): IpcChannel {
    const send = process.send?.bind(process);
    if (!send) throw new Error('not a worker process: there is no IPC channel to the primary');
    const channel = new IpcChannel((message, done) => send(message, undefined, undefined, (err: Error | null) => done(err)));
    process.on('message', (message) => channel.receive(message));
    process.once('disconnect', () => channel.close());
    return channel;
  }

  request<T>(kind: string, body: unknown = null): Promise<T> {
    if (this.closed) return Promise.reject(new ChannelClosedError(`channel closed; ${kind} not sent`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ mg: 'req', id, kind, body } satisfies Request, (err) => {
        if (!err) return;
        this.pending.delete(id);
        reject(new ChannelClosedError(`${kind} not sent: ${err.message}`));
      });
    });
  }

  /** One way, no answer; dropped when the channel is closed (the far end is gone). */
  notify(kind: string, body: unknown = null): void {
    if (!this.closed) this.post({ mg: 'note', kind, body } satisfies Note, () => undefined);
  }

  /** Answers requests of this kind; a throw (or rejection) is answered as an error with its message. */
  handle(kind: string, handler: Handler): void {
    this.handlers.set(kind, handler);
  }

  onNote(kind: string, handler: (body: unknown) => void): void {
    this.noteHandlers.set(kind, handler);
  }

  /** Feeds one message from the far end; false when it is not one of ours. */
  receive(message: unknown): boolean {
    if (!message || typeof message !== 'object' || !('mg' in message)) return false;
    const m = message as Request | Answer | Note;
    if (m.mg === 'res') {
      const waiting = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) waiting?.resolve(m.body);
      else waiting?.reject(new Error(String(m.body)));
    } else if (m.mg === 'note') {
      this.noteHandlers.get(m.kind)?.(m.body);
    } else if (m.mg === 'req') {
      void this.answer(m);
    }
    return true;
  }

  /** The far end is gone: every request still waiting fails. */
  close(): void {
    this.closed = true;
    for (const waiting of this.pending.values()) waiting.reject(new ChannelClosedError('the other process went away'));
    this.pending.clear();
  }

  private async answer(request: Request): Promise<void> {
    const handler = this.handlers.get(request.kind);
    let answer: Answer;
    try {
      if (!handler) throw new Error(`no handler for ${request.kind}`);
      answer = { mg: 'res', id: request.id, ok: true, body: (await handler(request.body)) ?? null };
    } catch (err) {
      answer = { mg: 'res', id: request.id, ok: false, body: (err as Error).message };
    }
    if (!this.closed) this.post(answer, () => undefined);
  }

  private post(message: Request | Answer | Note, done: (err: Error | null) => void): void {
    try {
      this.send(message, done);
    } catch (err) {
      done(err as Error);
    }
  }
}
