// The primary's two-phase reload over real IPC channels (two IpcChannel ends
// wired back to back): every worker prepares before any commits, and one that
// cannot prepare calls the reload off for all of them and the primary.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { App, PreparedReload } from '../../../src/app.js';
import { parseConfigObject } from '../../../src/config/load.js';
import type { MailGuardConfig } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { answerReloads, reloadConfig } from '../../../src/workers/config-reload.js';
import { IpcChannel } from '../../../src/workers/ipc.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function pair(): [primary: IpcChannel, worker: IpcChannel] {
  const ends: IpcChannel[] = [];
  // Through JSON and a turn of the event loop, as node:cluster's channel does.
  const to = (i: number) => (message: unknown, done: (err: Error | null) => void) =>
    setImmediate(() => {
      ends[i]!.receive(JSON.parse(JSON.stringify(message)));
      done(null);
    });
  ends.push(new IpcChannel(to(1)), new IpcChannel(to(0)));
  return [ends[0]!, ends[1]!];
}

/** An app that records what a reload did to it; `failPrepare` makes building the new parts throw. */
function recordingApp(config: MailGuardConfig, failPrepare = false) {
  const runs = { config, committed: [] as string[], aborted: 0 };
  const app: Pick<App, 'prepareReload' | 'loaded' | 'metrics'> = {
    metrics: createMetrics([]),
    loaded: () => ({ config: runs.config, hash: 'start', loadedAt: 0 }),
    prepareReload(next): PreparedReload {
      if (failPrepare) throw new Error('cannot build the webhook dispatcher');
      return {
        hash: next.policy.action,
        commit: () => {
          runs.config = next;
          runs.committed.push(next.policy.action);
        },
        abort: () => void runs.aborted++,
      };
    },
  };
  return { app, runs };
}

async function setUp(failingWorker: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'mail-guard-reload-unit-'));
  dirs.push(dir);
  const configPath = join(dir, 'mail-guard.yaml');
  await writeFile(configPath, JSON.stringify({ policy: { action: 'monitor' } }));
  const start = parseConfigObject({ policy: { action: 'reject' } });
  const primary = recordingApp(start);
  const workers = [recordingApp(start), recordingApp(start, failingWorker)];
  const channels = workers.map((w) => {
    const [primaryEnd, workerEnd] = pair();
    answerReloads(workerEnd, w.app);
    return primaryEnd;
  });
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger(start.log, sink);
  return { primary, workers, lines, reload: () => reloadConfig({ app: primary.app, configPath, logger, workers: () => channels }) };
}

describe('reloadConfig with workers', () => {
  it('commits everywhere once every worker has prepared', async () => {
    const { primary, workers, reload } = await setUp(false);
    expect(await reload()).toBe(true);
    expect(primary.runs.committed).toEqual(['monitor']);
    for (const w of workers) expect(w.runs.committed).toEqual(['monitor']);
    expect(await primary.app.metrics.registry.getSingleMetricAsString('mailguard_config_reload_total')).toContain('result="success"} 1');
  });

  it('calls the reload off for all when one worker cannot apply it: nobody switches, the failure is counted', async () => {
    const { primary, workers, lines, reload } = await setUp(true);
    expect(await reload()).toBe(false);
    expect(primary.runs.committed).toEqual([]);
    expect(primary.runs.aborted).toBe(1);
    for (const w of workers) expect(w.runs.committed).toEqual([]);
    // The worker that had prepared dropped what it built.
    expect(workers[0]!.runs.aborted).toBe(1);
    expect(primary.runs.config.policy.action).toBe('reject');
    const metrics = primary.app.metrics.registry;
    expect(await metrics.getSingleMetricAsString('mailguard_config_reload_total')).toContain('result="failure"} 1');
    expect((await metrics.getSingleMetric('mailguard_config_last_reload_success')!.get()).values[0]!.value).toBe(0);
    await new Promise<void>((res) => setImmediate(res));
    const refused = lines.find((l) => l['event'] === 'config_reload_failed');
    expect(refused?.['error']).toMatch(/^a worker could not apply the config: cannot build the webhook dispatcher/);
  });
});
