// Per-client connection caps and SMTP AUTH lockouts that hold across workers.
// The primary keeps the only counts (the same ConnectionLimiter and
// AuthFailureLimiter a single process uses); a worker asks it over IPC at
// onConnect and around each credential check. With `workers: 1` none of this
// runs: the ingress counts in process, without a message.

import type { MailGuardConfig } from '../config/schema.js';
import { ConnectionLimiter, type ConnectionSlots } from '../smtp/connection-limiter.js';
import type { SharedClientLimits } from '../smtp/ingress.js';
import { AuthFailureLimiter, DEFAULT_AUTH_LIMITS, type AuthAttempts } from '../smtp/smtp-auth.js';
import type { IpcChannel } from './ipc.js';

interface AddressBody {
  readonly address: string;
}
interface SlotAnswer {
  readonly slot: number | null;
}
interface AttemptAnswer {
  readonly attempt: number | null;
  readonly lockedUntil: number | null;
}
interface EndBody {
  readonly attempt: number;
  readonly failed: boolean;
}
interface LockedNote {
  readonly address: string;
  readonly until: number;
}

/** What one worker holds at the primary: given back when it dies, so a crash cannot leak a slot. */
interface Holdings {
  readonly slots: Map<number, () => void>;
  readonly attempts: Map<number, string>;
}

export class ClientLimitsHost {
  private readonly connections: ConnectionLimiter;
  private readonly auth = new AuthFailureLimiter(DEFAULT_AUTH_LIMITS);
  private readonly workers = new Map<number, { channel: IpcChannel; holdings: Holdings }>();
  private nextId = 1;

  constructor(smtp: MailGuardConfig['smtp']) {
    this.connections = new ConnectionLimiter(smtp.maxConnectionsPerClient);
  }

  attach(workerId: number, channel: IpcChannel): void {
    const holdings: Holdings = { slots: new Map(), attempts: new Map() };
    this.workers.set(workerId, { channel, holdings });
    channel.handle('conn.acquire', (body): SlotAnswer => {
      const release = this.connections.tryAcquire((body as AddressBody).address);
      if (!release) return { slot: null };
      const slot = this.nextId++;
      holdings.slots.set(slot, release);
      return { slot };
    });
    channel.onNote('conn.release', (body) => {
      const slot = (body as { slot: number }).slot;
      holdings.slots.get(slot)?.();
      holdings.slots.delete(slot);
    });
    channel.handle('auth.begin', async (body): Promise<AttemptAnswer> => {
      const { address } = body as AddressBody;
      const admitted = await this.auth.begin(address);
      if (!admitted) return { attempt: null, lockedUntil: this.auth.lockedUntil(address) };
      // The worker died while this attempt waited for its turn: nobody will end it.
      if (this.workers.get(workerId)?.holdings !== holdings) {
        this.auth.end(address, false);
        return { attempt: null, lockedUntil: null };
      }
      const attempt = this.nextId++;
      holdings.attempts.set(attempt, address);
      return { attempt, lockedUntil: null };
    });
    channel.handle('auth.end', (body) => {
      const { attempt, failed } = body as EndBody;
      const address = holdings.attempts.get(attempt);
      if (address === undefined) return { lockedOut: false };
      holdings.attempts.delete(attempt);
      const lockedOut = this.auth.end(address, failed);
      const until = lockedOut ? this.auth.lockedUntil(address) : null;
      // Every worker learns of it, so its AUTH gate refuses before asking for a password.
      if (until !== null) for (const { channel: other } of this.workers.values()) other.notify('auth.locked', { address, until } satisfies LockedNote);
      return { lockedOut };
    });
  }

  /** The worker is gone: its sessions are over and its credential checks will never end by themselves. */
  detach(workerId: number): void {
    const entry = this.workers.get(workerId);
    if (!entry) return;
    this.workers.delete(workerId);
    for (const release of entry.holdings.slots.values()) release();
    for (const address of entry.holdings.attempts.values()) this.auth.end(address, false);
  }

  /** Addresses holding a connection slot, for tests and the log. */
  get trackedClients(): number {
    return this.connections.size;
  }
}

/** Lockouts a worker has heard of, bounded; the primary's answer to begin() is what decides. */
const MAX_KNOWN_LOCKOUTS = 10_000;

/** The worker's end: what its ingress takes instead of its own counts. */
export function clientLimitsOverIpc(channel: IpcChannel): Required<SharedClientLimits> {
  const lockedUntil = new Map<string, number>();
  const heardLocked = (address: string, until: number) => {
    lockedUntil.delete(address);
    if (lockedUntil.size >= MAX_KNOWN_LOCKOUTS) lockedUntil.delete(lockedUntil.keys().next().value!);
    lockedUntil.set(address, until);
  };
  channel.onNote('auth.locked', (body) => heardLocked((body as LockedNote).address, (body as LockedNote).until));
  /** Attempts begun per address, oldest first: end() gives back one of them (any: they count alike). */
  const attempts = new Map<string, number[]>();

  const connections: ConnectionSlots = {
    async tryAcquire(address) {
      const { slot } = await channel.request<SlotAnswer>('conn.acquire', { address } satisfies AddressBody);
      if (slot === null) return null;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        channel.notify('conn.release', { slot });
      };
    },
  };
  const authAttempts: AuthAttempts = {
    blocked(address) {
      const until = lockedUntil.get(address);
      if (until === undefined) return false;
      if (until > Date.now()) return true;
      lockedUntil.delete(address);
      return false;
    },
    async begin(address) {
      const answer = await channel.request<AttemptAnswer>('auth.begin', { address } satisfies AddressBody);
      if (answer.lockedUntil !== null) heardLocked(address, answer.lockedUntil);
      if (answer.attempt === null) return false;
      attempts.set(address, [...(attempts.get(address) ?? []), answer.attempt]);
      return true;
    },
    async end(address, failed) {
      const mine = attempts.get(address);
      const attempt = mine?.shift();
      if (mine?.length === 0) attempts.delete(address);
      if (attempt === undefined) return false;
      return (await channel.request<{ lockedOut: boolean }>('auth.end', { attempt, failed } satisfies EndBody)).lockedOut;
    },
  };
  return { connections, authAttempts };
}
