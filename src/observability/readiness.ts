import type { MessageStore } from '../store/message-store.js';

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: {
    readonly store: string;
    readonly upstream: string;
    readonly draining: boolean;
    /** With workers: how many of them listen, e.g. "2 of 2 listening". */
    readonly workers?: string;
  };
}

/** The primary's view of its SMTP workers (src/workers). */
export interface WorkersReadiness {
  readonly listening: number;
  readonly wanted: number;
}

export interface ReadinessDeps {
  readonly store: () => MessageStore | null;
  /** null in rehearsal mode. */
  readonly upstream: {
    readonly lastSuccessAt: number | null;
    /** The latest failure to reach the relay, when nothing succeeded since. */
    readonly lastFailure: { readonly at: number; readonly reason: string } | null;
    verify(): Promise<void>;
    /** Told when a probe succeeded: the relay is back. */
    probeSucceeded(): void;
  } | null;
  readonly draining: () => boolean;
  /** With workers: not ready while none of them listens (nobody would answer on smtp.port). */
  readonly workers?: (() => WorkersReadiness) | undefined;
  /** A relay that accepted a message this recently counts as reachable without a probe. */
  readonly recentMs?: number;
  readonly probeTimeoutMs?: number;
}

const within = <T>(ms: number, work: Promise<T>): Promise<T> =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

/**
 * Ready = the store answers, the upstream accepted a connection recently (or
 * rehearsal mode, which needs none), and not draining. Each failing check says
 * why, so "mail-guard is down" and "the relay is down" read differently.
 */
export async function checkReadiness(deps: ReadinessDeps): Promise<ReadinessReport> {
  const recentMs = deps.recentMs ?? 60_000;
  const timeout = deps.probeTimeoutMs ?? 3000;
  const storeCheck = (async () => {
    const store = deps.store();
    if (!store) return 'not open';
    try {
      await within(timeout, store.ping());
      return 'ok';
    } catch (err) {
      return `failing: ${(err as Error).message}`;
    }
  })();
  const upstreamCheck = (async () => {
    const upstream = deps.upstream;
    if (!upstream) return 'rehearsal mode (no upstream)';
    // A recent success counts only when nothing failed since: a relay that went
    // away is not ready from its next failed attempt on, not 60 s later.
    if (upstream.lastFailure === null && upstream.lastSuccessAt !== null && Date.now() - upstream.lastSuccessAt < recentMs) return 'ok';
    try {
      await within(timeout, upstream.verify());
      upstream.probeSucceeded();
      return 'ok';
    } catch (err) {
      const last = upstream.lastFailure ? `; last attempt: ${upstream.lastFailure.reason}` : '';
      return `failing: ${(err as Error).message}${last}`;
    }
  })();
  const [store, upstream] = await Promise.all([storeCheck, upstreamCheck]);
  const draining = deps.draining();
  const upstreamOk = upstream === 'ok' || !deps.upstream;
  const workers = deps.workers?.();
  const workersOk = !workers || workers.listening > 0;
  const checks = { store, upstream, draining, ...(workers ? { workers: `${workers.listening} of ${workers.wanted} listening` } : {}) };
  return { ready: store === 'ok' && upstreamOk && !draining && workersOk, checks };
}
