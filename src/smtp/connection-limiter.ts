// Concurrent connections per client address. A connection over the cap is never
// counted, so refusing it cannot leak a slot; an admitted one holds its slot
// until its release function runs (when the session ends, see ingress.ts),
// and releasing twice is harmless: several signals may report one ending.

/**
 * What the ingress asks before it admits a session. In one process that is a
 * ConnectionLimiter (synchronous, no await on the connect path); with several
 * worker processes the counts live in one of them and the answer comes back
 * as a promise (src/workers/shared-limits.ts), so a cap holds across them.
 */
export interface ConnectionSlots {
  tryAcquire(address: string): (() => void) | null | Promise<(() => void) | null>;
}

export class ConnectionLimiter implements ConnectionSlots {
  private readonly counts = new Map<string, number>();

  constructor(private readonly maxPerClient: number) {}

  /** A release function when the address is under its cap (the slot is taken), null when it is full. */
  tryAcquire(address: string): (() => void) | null {
    const current = this.counts.get(address) ?? 0;
    if (current >= this.maxPerClient) return null;
    this.counts.set(address, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.counts.get(address) ?? 1) - 1;
      if (n <= 0) this.counts.delete(address);
      else this.counts.set(address, n);
    };
  }

  count(address: string): number {
    return this.counts.get(address) ?? 0;
  }

  /** Addresses currently holding at least one slot. */
  get size(): number {
    return this.counts.size;
  }
}

/**
 * Sessions whose slot is being asked for elsewhere (shared limits, an answer
 * that comes later). A session that ends first has no slot for onClose to give
 * back, so the slot goes back the moment it arrives instead of being held.
 */
export class SlotsAskedFor {
  private readonly asking = new Set<string>();

  wait(id: string, slot: Promise<(() => void) | null>, admit: (release: (() => void) | null) => void, failed: () => void): void {
    this.asking.add(id);
    slot.then(
      (release) => {
        if (!this.asking.delete(id)) return release?.();
        admit(release);
      },
      () => {
        if (this.asking.delete(id)) failed();
      },
    );
  }

  /** The session closed (its onClose ran). */
  ended(id: string): void {
    this.asking.delete(id);
  }
}
