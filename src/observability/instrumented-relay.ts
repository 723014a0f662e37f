import type { Relay } from '../actions/relay.js';
import type { Metrics } from './metrics.js';
import { UpstreamError } from '../upstream/upstream-error.js';

/**
 * What the last attempts to reach the upstream came to, for readiness: a relay
 * that just failed to be reached is not ready, however recently it accepted
 * mail before; the next success (a message or a readiness probe) makes it ready.
 */
export class UpstreamHealth {
  lastSuccessAt: number | null = null;
  lastFailure: { readonly at: number; readonly reason: string } | null = null;

  succeeded(at = Date.now()): void {
    this.lastSuccessAt = at;
    this.lastFailure = null;
  }

  /** A readiness probe got through: the failure is over, but a probe is no delivery to rely on for 60 s. */
  recovered(): void {
    this.lastFailure = null;
  }

  failed(reason: string, at = Date.now()): void {
    this.lastFailure = { at, reason };
  }
}

/** Times every upstream transaction and counts failures by class, without the actions knowing. */
export function instrumentRelay(relay: Relay, metrics: Metrics, health?: UpstreamHealth): Relay {
  return {
    async send(envelope, message, signal) {
      const stop = metrics.upstreamSeconds.startTimer();
      try {
        const delivery = await relay.send(envelope, message, signal);
        stop();
        health?.succeeded();
        return delivery;
      } catch (err) {
        stop();
        // mail-guard called it off (the mailer's deadline): says nothing about the upstream's health.
        if (err instanceof UpstreamError && err.kind !== 'cancelled') {
          metrics.upstreamErrors.inc({ class: err.metricClass });
          // Only a relay that could not be reached or kept the session; a 4xx or
          // 5xx answer is the relay working.
          if (err.metricClass === 'connect') health?.failed(`${err.stage} ${err.kind}: ${err.message}`);
          else health?.succeeded();
        }
        throw err;
      }
    },
  };
}
