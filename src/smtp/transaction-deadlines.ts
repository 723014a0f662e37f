// One entry per session inside a mail transaction (MAIL FROM until its answer,
// a reset or the end of the session): its deadline and the signal of its work.

import { TransactionCancellation } from '../upstream/cancellation.js';

interface OpenTransaction {
  timer: NodeJS.Timeout | null;
  readonly work: TransactionCancellation;
}

export class TransactionDeadlines {
  private readonly open = new Map<string, OpenTransaction>();

  constructor(
    private readonly timeoutMs: number,
    /** The deadline passed: the transaction is already ended and its work called off; the mailer must be told. */
    private readonly onDeadline: (id: string) => void,
  ) {}

  /** MAIL FROM: a new transaction begins for this session. */
  start(id: string): void {
    // smtp-server reads no new MAIL before the previous DATA was answered: that work is done.
    this.end(id, 'a new transaction began', true);
    const work = new TransactionCancellation();
    const timer = setTimeout(() => {
      // The mailer hears 421 and will retry: nothing of this transaction may reach the upstream after this.
      this.end(id, 'the transaction deadline passed');
      this.onDeadline(id);
    }, this.timeoutMs).unref();
    this.open.set(id, { timer, work });
  }

  /** What the transaction's work watches; an aborted one when there is none. */
  signalOf(id: string): AbortSignal {
    return this.open.get(id)?.work.signal ?? AbortSignal.abort('no transaction');
  }

  /**
   * The transaction is over: its deadline stops, and whatever of its work is
   * still running is called off. `settled`: its work is known to be finished (it
   * produced the answer), so there is nothing to call off; an abort dispatches an
   * event through every listener and costs several microseconds a message.
   */
  end(id: string, why: string, settled = false): void {
    const tx = this.open.get(id);
    if (!tx) return;
    this.open.delete(id);
    if (tx.timer) clearTimeout(tx.timer);
    if (!settled) tx.work.abort(why);
  }

  /** Draining: transactions in DATA finish within the grace period, so no deadline cuts them off; their work goes on. */
  stopDeadlines(): void {
    for (const tx of this.open.values()) {
      if (tx.timer) clearTimeout(tx.timer);
      tx.timer = null;
    }
  }
}
