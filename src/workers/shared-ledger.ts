// The file store's delivery ledger under workers. One process owns the ledger
// file (file-ledger.ts: it is compacted by a rename on open, and its entries
// live in that process's memory), so the primary keeps it and every worker
// asks it. With store.type redis the ledger is shared by Redis and none of
// this runs.
//
// mayHoldEntries lets the pass path skip hashing every message while the ledger
// is empty. A worker's copy of it must never say "empty" while an entry exists:
// when the first entry is recorded, the primary tells every worker and waits for
// each to take it in before the recording worker's 451 may go out, so the retry
// that answers the 451 finds "may hold" on whichever worker it reaches.

import type { DeliveryLedger } from '../store/message-store.js';
import type { IpcChannel } from './ipc.js';

interface Digest {
  readonly digest: string;
}
interface Accepted extends Digest {
  readonly recipients: readonly string[];
}

export class LedgerHost {
  private readonly channels = new Map<number, IpcChannel>();

  constructor(private readonly ledger: () => DeliveryLedger | null | undefined) {}

  attach(workerId: number, channel: IpcChannel): void {
    this.channels.set(workerId, channel);
    // Asked by the worker once it listens for the answer (a note sent at the fork would arrive before its listener).
    channel.handle('ledger.state', () => ({ value: this.own().mayHoldEntries }));
    channel.handle('ledger.accepted', async (body) => [...(await this.own().acceptedRecipients((body as Digest).digest))]);
    channel.handle('ledger.record', async (body) => {
      const { digest, recipients } = body as Accepted;
      const ledger = this.own();
      await ledger.recordAccepted(digest, recipients);
      // A worker that died meanwhile gets the state when its successor attaches.
      const told = [...this.channels.values()].map((c) => c.request('ledger.mayHold', { value: true }).catch(() => undefined));
      await Promise.all(told);
      return null;
    });
    channel.handle('ledger.forget', async (body) => {
      const ledger = this.own();
      await ledger.forget((body as Digest).digest);
      // "Empty" may arrive late: a stale "may hold" only costs a hash.
      if (!ledger.mayHoldEntries) for (const c of this.channels.values()) c.notify('ledger.mayHold', { value: false });
      return null;
    });
  }

  detach(workerId: number): void {
    this.channels.delete(workerId);
  }

  private own(): DeliveryLedger {
    const ledger = this.ledger();
    if (!ledger) throw new Error('the store is not open');
    return ledger;
  }
}

/** The worker's end, handed to its file store in place of a ledger file of its own. */
export function ledgerOverIpc(channel: IpcChannel): DeliveryLedger & { close(): Promise<void>; sync(): Promise<void> } {
  // Until the primary says otherwise, assume entries: a hash too many, never a copy sent twice.
  let mayHold = true;
  const take = (body: unknown) => {
    mayHold = (body as { value: boolean }).value;
    return null;
  };
  channel.onNote('ledger.mayHold', take);
  channel.handle('ledger.mayHold', take);
  return {
    get mayHoldEntries() {
      return mayHold;
    },
    async acceptedRecipients(digest) {
      return new Set(await channel.request<string[]>('ledger.accepted', { digest } satisfies Digest));
    },
    async recordAccepted(digest, recipients) {
      await channel.request('ledger.record', { digest, recipients } satisfies Accepted);
    },
    async forget(digest) {
      await channel.request('ledger.forget', { digest } satisfies Digest);
    },
    close: async () => undefined,
    /** Learns the primary's state: before it, every message is looked up (the safe side). */
    async sync() {
      take(await channel.request('ledger.state'));
    },
  };
}
