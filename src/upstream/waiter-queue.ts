// The callers waiting for an upstream session, first come first served.

import { performance } from 'node:perf_hooks';

export interface Waiter<T> {
  resolve(lease: T): void;
  reject(err: unknown): void;
  /** performance.now() when it started waiting (for the pool's wait metric). */
  readonly since: number;
}

/** FIFO without Array#shift's O(n) on every take; a caller put back goes to the front. */
export class WaiterQueue<T> {
  private items: (Waiter<T> | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** A new waiter at the back; resolves with the lease handed to it. */
  wait(): Promise<T> {
    return new Promise<T>((resolve, reject) => this.items.push({ resolve, reject, since: performance.now() }));
  }

  /** Puts a waiter back in front (its turn came, but no session could be opened for it). */
  putBack(waiter: Waiter<T>): void {
    if (this.head > 0) this.items[--this.head] = waiter;
    else this.items.unshift(waiter);
  }

  shift(): Waiter<T> | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Fails every waiter. */
  rejectAll(err: unknown): void {
    for (let w = this.shift(); w; w = this.shift()) w.reject(err);
  }
}
