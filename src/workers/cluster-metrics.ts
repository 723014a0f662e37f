// One /metrics for the whole service: the primary asks every listening worker
// for its registry as JSON at scrape time and sums them with its own through
// prom-client's AggregatorRegistry.aggregate (counters and histogram buckets
// add up; prom-client's default process metrics carry their own aggregator).
// The gauges read from the store and readiness are the primary's alone
// (PRIMARY_ONLY_METRICS): a worker's copy is dropped before the sum.

import { AggregatorRegistry, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { PRIMARY_ONLY_METRICS } from '../observability/metrics.js';
import type { IpcChannel } from './ipc.js';

type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

/** A worker busy past this is left out of one scrape rather than stalling it. */
const WORKER_ANSWER_MS = 2000;

const within = <T>(ms: number, work: Promise<T>, fallback: T): Promise<T> =>
  Promise.race([work.catch(() => fallback), new Promise<T>((resolve) => setTimeout(() => resolve(fallback), ms).unref())]);

export class ClusterRegistry extends Registry {
  constructor(
    private readonly own: Registry,
    private readonly workers: () => readonly IpcChannel[],
  ) {
    super();
  }

  override async metrics(): Promise<string> {
    const asked = this.workers().map((channel) => within(WORKER_ANSWER_MS, channel.request<MetricsJson>('metrics'), null));
    const [mine, answers] = await Promise.all([this.own.getMetricsAsJSON(), Promise.all(asked)]);
    const theirs = answers.filter((a): a is MetricsJson => a !== null).map((list) => list.filter((m) => !PRIMARY_ONLY_METRICS.has(m.name)));
    return AggregatorRegistry.aggregate([mine, ...theirs]).metrics();
  }
}

/** The worker's end: its registry, as JSON, when the primary asks. */
export function answerMetrics(channel: IpcChannel, registry: Registry): void {
  channel.handle('metrics', () => registry.getMetricsAsJSON());
}
