import { availableParallelism } from 'node:os';
import type { MailGuardConfig } from '../config/schema.js';

/** The number of SMTP processes `serve` runs: `workers: auto` is one per core of the host it starts on. */
export function workerCount(config: Pick<MailGuardConfig, 'workers'>, cores: () => number = availableParallelism): number {
  return config.workers === 'auto' ? Math.min(64, Math.max(1, cores())) : config.workers;
}
