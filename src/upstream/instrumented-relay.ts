import type { Relay } from '../actions/relay.js';
import type { Metrics } from '../admin/metrics.js';
import { UpstreamError } from './upstream-error.js';

/** Times every upstream transaction and counts failures by class, without the actions knowing. */
export function instrumentRelay(relay: Relay, metrics: Metrics): Relay {
  return {
    async send(envelope, message) {
      const stop = metrics.upstreamSeconds.startTimer();
      try {
        const delivery = await relay.send(envelope, message);
        stop();
        return delivery;
      } catch (err) {
        stop();
        if (err instanceof UpstreamError) metrics.upstreamErrors.inc({ class: err.metricClass });
        throw err;
      }
    },
  };
}
