// The primary's SMTP workers: forks them (node:cluster, round-robin, so the
// workers take turns at new connections on the one shared port), starts a
// worker that died unexpectedly again after a backoff, and drains them all on
// stop. A death is logged once and counted by onUnexpectedExit.

import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../observability/logger.js';
import { IpcChannel } from './ipc.js';

export interface SupervisorOptions {
  readonly count: number;
  /** The worker's entry file (worker-main.js). */
  readonly exec: string;
  readonly logger: Logger;
  /** Wires a new worker's channel before it can ask anything. */
  attach(workerId: number, channel: IpcChannel): void;
  /** The worker exited: what it held is given back. */
  detach(workerId: number): void;
  onUnexpectedExit(): void;
}

interface Running {
  readonly worker: Worker;
  readonly channel: IpcChannel;
  listening: boolean;
  stopping: boolean;
  readonly exited: Promise<void>;
}

/** Deaths closer together than this make the next restart wait longer. */
const CRASH_WINDOW_MS = 60_000;
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 30_000;

export class WorkerSupervisor {
  private readonly running = new Map<number, Running>();
  private readonly restarts = new Set<NodeJS.Timeout>();
  private deaths: number[] = [];
  private started = false;
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {}

  /** Forks every worker; resolves with the SMTP port once all listen, rejects if one exits first. */
  async start(): Promise<number> {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.setupPrimary({ exec: this.options.exec, args: [], silent: false });
    const ports = await Promise.all(Array.from({ length: this.options.count }, () => this.fork()));
    this.started = true;
    return ports[0]!;
  }

  /** Workers taking connections (a worker told to stop no longer counts). */
  listening(): number {
    return [...this.running.values()].filter((r) => r.listening && !r.stopping).length;
  }

  channels(): IpcChannel[] {
    return [...this.running.values()].filter((r) => r.listening).map((r) => r.channel);
  }

  /** Tells every worker to drain (no new sessions, in-flight transactions finish) and waits until all have exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.restarts) clearTimeout(timer);
    this.restarts.clear();
    const all = [...this.running.values()];
    for (const r of all) {
      r.stopping = true;
      r.channel.notify('stop');
    }
    await Promise.all(all.map((r) => r.exited));
  }

  /** A second signal, or the grace period over: no drain. */
  kill(): void {
    this.stopping = true;
    for (const r of this.running.values()) r.worker.process.kill('SIGKILL');
  }

  private fork(): Promise<number> {
    const worker = cluster.fork();
    const channel = new IpcChannel((message, done) => {
      worker.send(message as never, undefined, undefined, (err: Error | null) => done(err));
    });
    worker.on('message', (message) => channel.receive(message));
    let exitedNow!: () => void;
    const running: Running = { worker, channel, listening: false, stopping: false, exited: new Promise((resolve) => (exitedNow = resolve)) };
    this.running.set(worker.id, running);
    this.options.attach(worker.id, channel);
    return new Promise<number>((resolve, reject) => {
      channel.onNote('listening', (body) => {
        running.listening = true;
        // Told to stop while it started: that note may have come before it listened for one.
        if (running.stopping) channel.notify('stop');
        resolve((body as { smtpPort: number }).smtpPort);
      });
      worker.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
        channel.close();
        this.running.delete(worker.id);
        this.options.detach(worker.id);
        exitedNow();
        if (!running.listening) reject(new Error(`SMTP worker ${worker.id} exited (${signal ?? `code ${code}`}) before it listened`));
        if (!running.stopping && !this.stopping && this.started) this.restart(worker, code, signal);
      });
    });
  }

  private restart(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    const now = Date.now();
    this.deaths = [...this.deaths.filter((at) => now - at < CRASH_WINDOW_MS), now];
    // 100 ms, 200 ms, 400 ms … for deaths in a row: a worker that cannot start must not spin a core.
    const backoffMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (this.deaths.length - 1));
    this.options.onUnexpectedExit();
    this.options.logger.error(
      { event: 'worker_exit', worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: backoffMs },
      'SMTP worker died; starting another',
    );
    const timer = setTimeout(() => {
      this.restarts.delete(timer);
      if (this.stopping) return;
      this.fork().catch(() => undefined); // its own exit is logged and restarted in turn
    }, backoffMs);
    this.restarts.add(timer);
  }
}
