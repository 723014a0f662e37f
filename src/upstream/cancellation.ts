// The mailer's transaction as a signal: once it fires (deadline, mailer gone)
// nothing more of that transaction may reach the upstream. A real
// AbortController per transaction showed up in a CPU profile of the pass path
// at several microseconds a message (EventTarget creation, an event dispatch
// through every listener, add/removeEventListener per upstream send); the
// transaction path only ever reads `aborted` and `reason` and adds or removes
// one 'abort' listener, so this does exactly that.

/** Hands out `signal` typed as AbortSignal for the members above only: never pass it to a Node API. */
export class TransactionCancellation {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> | null = null;

  get signal(): AbortSignal {
    return this as unknown as AbortSignal;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.listeners?.indexOf(listener) ?? -1;
    if (index !== -1) this.listeners!.splice(index, 1);
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners ?? [];
    this.listeners = null;
    // Like { once: true }: each listener runs once and is gone.
    for (const listener of listeners) listener();
  }
}
