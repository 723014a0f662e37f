#!/usr/bin/env node
// npm run bench: direct (load -> sink) and proxied (load -> mail-guard -> sink)
// runs side by side, interleaved, against ONE sink, in ONE invocation. For the
// pass and one-connection-per-message scenarios a third mode, bare (load ->
// bench/bare-forwarder.mjs -> sink: the issue's bare smtp-server -> pooled
// SMTPConnection reference), runs in the same rounds. With BENCH_BASELINE a
// fourth mode, baseline (load -> another checkout's mail-guard -> sink, same
// config), runs in the same rounds too, so a change is judged against the
// figure before it from ONE invocation rather than against a number from
// another day. Measures, never asserts: targets are printed as PASS/MISS; the
// exit code is non-zero only when something could not be measured (proxy,
// baseline or bare forwarder missing or dead, a run failing, the analyser
// missing).
//
// Environment:
//   BENCH_SCALE=1          multiplies every message count (0.1 … 20)
//   BENCH_ROUNDS=3         rounds per scenario, each one run of every mode (best run is reported, every run is listed)
//   BENCH_RUN_TIMEOUT_S=15 time cap of one run; a capped run is measured over what reached the sink
//   BENCH_LATENCY_S=2      duration of each Node-generator latency run (0: skip them)
//   BENCH_FORCE_NODE=1     use the Node load generator and Node sink even when Postfix's tools exist
//   BENCH_ONLY=pass,split  run only these scenarios (pass, conn, split, big, text5k, csv200k, pdf5m, store;
//                          content = text5k, csv200k and pdf5m); analysis always runs
//                          (store: the file store with 10,000 fsynced records, then listings from a fresh
//                          instance: bench/file-store.mjs, informational, no target)
//                          (content, issue 14: a 5 KB newsletter, 200 KB with a 30-row CSV attachment and a
//                          5 MB PDF-like attachment (bench/content-messages.mjs) through mail-guard with
//                          content scanning off (proxied: the same process as the other scenarios) and on
//                          (mode content: this checkout with policy.content { maxAddresses: 20 }) in the
//                          same rounds; "content scanning" prints on/off in msgs/s, CPU ms/msg and peak RSS,
//                          the targets the 5 MB RSS bound with it on, and bench/content-scan.mjs the
//                          in-process cost of the scan on the same three messages against header analysis)
//   BENCH_WORKERS=2        a fifth mode, workers: this checkout's mail-guard with `workers: N` (node:cluster),
//                          in the pass and 5 MB scenarios, against proxied (`workers: 1`, the default) in
//                          the same rounds: msgs/s and CPU ms/msg of N against 1, the 5 MB RSS of the whole
//                          process tree, and a projection for a larger host. 0 turns it off.
//   BENCH_BASELINE=DIR     another built checkout of mail-guard (DIR/dist/cli/main.js exists), e.g. the
//                          commit before a change:
//                            git worktree add /tmp/mg-base <commit> && (cd /tmp/mg-base && npm ci && npm run build)
//                            BENCH_BASELINE=/tmp/mg-base npm run bench     # from this checkout
//                            git worktree remove /tmp/mg-base               # afterwards
//                          DIR's mail-guard runs as mode baseline with the proxied config in pass, conn and
//                          split, interleaved with the other modes in the same rounds, against the same sink;
//                          "side by side" then prints mail-guard / baseline per round (msgs/s, copies/s,
//                          CPU ms/msg). The analysis micro-benchmarks run for both checkouts: the 50,000-address
//                          To (bench/analysis.mjs) and the per-message cost of a typical 5 KB clean message
//                          (bench/analysis-message.mjs, 200,000 calls a run, fewer below BENCH_SCALE=1, one
//                          run per checkout a round). Without it nothing of this runs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs, busyShare, hostCpu, peakRssBytes, processTree, resetPeakRss, rssBytes, sampleRss } from './procstat.mjs';
import { cleanupAll, freePort, installCleanupHandlers, registerTempDir, sleep, startChild } from './procs.mjs';
import { startBareForwarder, startProxy } from './proxy.mjs';
import {
  analysisPairLines,
  bareLines,
  baselineLines,
  latencyTable,
  mainTable,
  runsTable,
  summarise,
  targets,
  targetsTable,
  outcomeText,
  workersLines,
  contentLines,
  contentScanLines,
} from './report.mjs';
import { INSTALL_HINT, findPostfixTools, runNodeLoad, runSmtpSource, sourceArgs, startSink } from './tools.mjs';
import { CONTENT_MAX_ADDRESSES, CONTENT_MESSAGE_SIZES, contentMessageFile } from './content-messages.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const projectDir = path.resolve(here, '..');
const MB = 1024 * 1024;

const envNumber = (name, fallback, min, max) => {
  const value = Number(process.env[name] ?? fallback);
  return Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
};
const SCALE = envNumber('BENCH_SCALE', 1, 0.01, 20);
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 3, 1, 10));
const RUN_TIMEOUT_MS = envNumber('BENCH_RUN_TIMEOUT_S', 15, 1, 600) * 1000;
const LATENCY_MS = envNumber('BENCH_LATENCY_S', 2, 0, 60) * 1000;
const FORCE_NODE = process.env.BENCH_FORCE_NODE === '1';
const ONLY = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const BASELINE_DIR = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : null;
const WORKERS = Math.round(envNumber('BENCH_WORKERS', 2, 0, 64));

const count = (n) => Math.max(1, Math.round(n * SCALE));
const ALL_SCENARIOS = [
  { id: 'pass', title: '1 pass, 5 KB, 20 persistent sessions', sessions: 20, size: 5120, persistent: true, recipients: 1, messages: count(15000) },
  { id: 'conn', title: '2 one connection per message, 5 KB, 20 sessions', sessions: 20, size: 5120, persistent: false, recipients: 1, messages: count(6000) },
  {
    id: 'split',
    title: '3 split, 10 external (To+Cc), 5 KB, 20 persistent',
    sessions: 20,
    size: 5120,
    persistent: true,
    recipients: 10,
    split: true,
    messages: count(1500),
  },
  { id: 'big', title: '4 5 MB, 4 persistent sessions', sessions: 4, size: 5 * MB, persistent: true, recipients: 1, messages: count(100) },
  // Issue 14: content scanning off (proxied) and on (content); `message` names the bench/content-messages.mjs message every run sends.
  ...[
    { id: 'text5k', short: '5 KB text', title: '5 5 KB text, content scan off/on, 20 persistent', sessions: 20, message: 'text', messages: count(6000) },
    {
      id: 'csv200k',
      short: '200 KB with a 30-row CSV',
      title: '6 200 KB, 30-row CSV attached, off/on, 20 persistent',
      sessions: 20,
      message: 'csv',
      messages: count(1500),
    },
    { id: 'pdf5m', short: '5 MB PDF-like', title: '7 5 MB PDF-like attached, off/on, 4 persistent', sessions: 4, message: 'pdf', messages: count(100) },
  ].map((s) => ({ ...s, group: 'content', size: CONTENT_MESSAGE_SIZES[s.message], persistent: true, recipients: 1 })),
];
const SCENARIOS = ONLY.length ? ALL_SCENARIOS.filter((s) => ONLY.includes(s.id) || (s.group && ONLY.includes(s.group))) : ALL_SCENARIOS;
// Scenarios that also run the reference forwarder (same message counts as direct and proxied).
const BARE_SCENARIOS = new Set(['pass', 'conn']);
const BARE_POOL = 20;
// Scenarios BENCH_BASELINE's mail-guard runs in: the per-message paths a change
// could slow down (the 5 MB run is about memory, judged on this checkout alone).
const BASELINE_SCENARIOS = new Set(['pass', 'conn', 'split']);
// Scenarios the workers mode (BENCH_WORKERS) runs in: throughput per core, and memory with several processes.
const WORKERS_SCENARIOS = new Set(['pass', 'big']);
// Scenarios the content mode (policy.content on) runs in, against proxied (off).
const CONTENT_SCENARIOS = new Set(ALL_SCENARIOS.filter((s) => s.group === 'content').map((s) => s.id));
// Calls a run of bench/analysis-message.mjs: 200,000 from BENCH_SCALE=1 up, fewer for smoke runs.
const PER_MESSAGE_CALLS = Math.min(200000, count(200000));

const log = (text = '') => process.stdout.write(text + '\n');
const problems = [];

function machineLine() {
  const cpus = os.cpus();
  return (
    `${cpus.length} × ${cpus[0]?.model?.trim() ?? 'cpu'}, load avg ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, ` + `node ${process.version}, ${os.type()} ${os.release()}`
  );
}

/** 'abc1234' or 'abc1234 + uncommitted changes', or why not. */
function commitOf(dir) {
  try {
    const head = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', timeout: 2000 }).trim();
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', timeout: 5000 }).trim();
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'not a git checkout';
  }
}

function postfixVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'postfix'], { encoding: 'utf8', timeout: 2000 }).trim();
  } catch {
    return 'version unknown';
  }
}

/**
 * One throughput run against `port`; returns a run record. `server` is the
 * process in the middle (mail-guard for proxied, BENCH_BASELINE's mail-guard
 * for baseline, the bare forwarder for bare, null for direct): its CPU and RSS
 * are measured.
 */
async function throughputRun({ scenario, mode, round, port, sink, tools, server }) {
  // Either mail-guard: split copies are counted at the sink for both.
  const isProxied = mode === 'proxied' || mode === 'baseline' || mode === 'workers' || mode === 'content';
  const pid = server?.pid ?? null;
  const isMeasured = pid !== null;
  // With workers, the primary and every worker: their CPU (cpuMs walks the tree itself) and their summed RSS.
  const pids = isMeasured ? processTree(pid) : [];
  const record = { scenario: scenario.id, mode, round, tool: tools ? 'smtp-source' : 'node-load', sent: scenario.messages };

  await sink.settle(200, 10000);
  if (isMeasured) record.processes = pids.length;
  if (isProxied && scenario.size >= MB) {
    await sleep(500); // let the previous run's buffers go: the idle baseline of this run
  }
  const idleRss = isMeasured ? rssBytes(pids) : null;
  const resetOk = isMeasured ? resetPeakRss(pids) : false;
  const sampler = isMeasured ? sampleRss(pids, 50) : null;
  const sinkBefore = sink.messages();
  const cpuBefore = isMeasured ? cpuMs(pid) : null;
  const hostBefore = hostCpu();
  let sinkAtKill = null;

  let elapsedMs;
  let clientOk = null;
  if (tools) {
    const result = await runSmtpSource(tools.source, sourceArgs(scenario, port, scenario.messages), RUN_TIMEOUT_MS, () => {
      sinkAtKill = sink.messages();
    });
    elapsedMs = result.elapsedMs;
    record.timedOut = result.timedOut;
    if (!result.timedOut && result.code !== 0) {
      record.failed = true;
      record.note = `smtp-source exit ${result.code ?? result.signal}: ${result.stderr.trim().split('\n').slice(-2).join(' | ')}`;
    }
    if (!result.timedOut && result.code === 0) clientOk = scenario.messages;
  } else {
    const result = await runNodeLoad(
      {
        port,
        sessions: scenario.sessions,
        messages: scenario.messages,
        durationMs: RUN_TIMEOUT_MS,
        persistent: scenario.persistent,
        size: scenario.size,
        recipients: scenario.recipients,
        split: !!scenario.split,
        messageFile: scenario.messageFile ?? null,
      },
      RUN_TIMEOUT_MS + 70000,
    );
    elapsedMs = result.elapsedMs;
    clientOk = result.ok;
    record.timedOut = result.ok + result.failed < scenario.messages;
    record.latency = result;
    if (result.failed || result.code !== 0) {
      record.failed = result.ok === 0;
      record.note = `${result.failed} failed: ${(result.errors ?? [])
        .map((e) => `${e.count}× ${e.message}`)
        .join('; ')
        .slice(0, 160)}${result.stderr ?? ''}`;
    }
  }
  const cpuAfter = isMeasured ? cpuMs(pid) : null;
  const hostAfter = hostCpu();
  const peakSampled = sampler?.stop() ?? null;
  const hwm = isMeasured ? peakRssBytes(pids) : null;
  const sinkAfter = sinkAtKill ?? (await sink.settle(250, 10000));
  if (sinkAtKill !== null) await sink.settle(250, 15000); // drain what the proxy still had in flight

  const delivered = sinkAfter - sinkBefore;
  const copiesPerMessage = isProxied && scenario.split ? scenario.recipients : 1;
  // Counted where it matters: a 250 for a message the sink never saw does not count.
  const seenAtSink = Math.floor(delivered / copiesPerMessage);
  const messages = clientOk === null ? seenAtSink : Math.min(clientOk, seenAtSink);
  record.delivered = delivered;
  record.sent = clientOk ?? messages;
  record.elapsedMs = elapsedMs;
  record.msgsPerSec = (messages * 1000) / elapsedMs;
  if (isProxied && scenario.split) record.copiesPerSec = (delivered * 1000) / elapsedMs;
  record.busy = busyShare(hostBefore, hostAfter);
  if (isMeasured) {
    record.cpuMsPerMsg = cpuBefore !== null && cpuAfter !== null && messages > 0 ? (cpuAfter - cpuBefore) / messages : null;
    record.peakRss = resetOk ? Math.max(hwm ?? 0, peakSampled ?? 0) : peakSampled;
    record.idleRss = idleRss;
    record.inFlightBytes = scenario.sessions * (scenario.size + 200); // + smtp-source's ~150 header bytes
    if (isProxied && scenario.split && record.cpuMsPerMsg !== null)
      record.note = [record.note, `${(record.cpuMsPerMsg / scenario.recipients).toFixed(3)} CPU ms/copy`].filter(Boolean).join('; ');
    if (!resetOk) record.note = [record.note, 'VmHWM not resettable: peak from 50 ms VmRSS samples'].filter(Boolean).join('; ');
  }
  const expected = (clientOk ?? messages) * copiesPerMessage;
  if (!record.timedOut && !record.failed && delivered !== expected) {
    record.note = [record.note, `sink counted ${delivered}, expected ${expected}`].filter(Boolean).join('; ');
  }
  return record;
}

async function latencyRun(scenario, port) {
  return runNodeLoad(
    {
      port,
      sessions: scenario.sessions,
      messages: scenario.messages,
      durationMs: LATENCY_MS,
      persistent: scenario.persistent,
      size: scenario.size,
      recipients: scenario.recipients,
      split: !!scenario.split,
      messageFile: scenario.messageFile ?? null,
    },
    LATENCY_MS + 70000,
  );
}

/** Runs a bench script that prints one JSON line as its result; its own process, so its heap and JIT are its own. */
async function runJsonChild(name, script, args, timeoutMs) {
  const out = [];
  const entry = startChild(name, process.execPath, [path.join(here, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  entry.child.stdout.on('data', (c) => out.push(c));
  entry.child.stderr.on('data', () => {});
  const timer = setTimeout(() => entry.child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await entry.exitPromise;
  clearTimeout(timer);
  try {
    return JSON.parse(Buffer.concat(out).toString('utf8').trim().split('\n').pop());
  } catch {
    return {
      ok: false,
      reason: `${name} child ended (code ${code}, signal ${signal}) without a result${signal === 'SIGKILL' ? ` within ${timeoutMs / 1000} s` : ''}`,
    };
  }
}

const runAnalysis = (addresses = 50000, dir = projectDir) => runJsonChild('analysis', 'analysis.mjs', [dir, String(addresses), '5'], 30000);
const runContentScan = (dir = projectDir) => runJsonChild('content-scan', 'content-scan.mjs', [dir, String(SCALE)], 130000);
const runAnalysisMessage = (dir) => runJsonChild('analysis-message', 'analysis-message.mjs', [dir, String(PER_MESSAGE_CALLS)], 130000);
// Scenario store: not a throughput run, so outside SCENARIOS; on by default, and selected by BENCH_ONLY=store.
const STORE_WANTED = ONLY.length === 0 || ONLY.includes('store');
const STORE_RECORDS = count(10000);
const runFileStore = (dir = projectDir) => runJsonChild('file-store', 'file-store.mjs', [dir, String(STORE_RECORDS)], Math.max(120000, STORE_RECORDS * 20));

/** One unmeasured load run (JIT, pools). */
async function warmRun(scenario, port, tools) {
  if (tools) await runSmtpSource(tools.source, sourceArgs(scenario, port, scenario.messages), RUN_TIMEOUT_MS);
  else
    await runNodeLoad(
      {
        port,
        sessions: scenario.sessions,
        messages: scenario.messages,
        durationMs: RUN_TIMEOUT_MS,
        persistent: scenario.persistent,
        size: scenario.size,
        recipients: scenario.recipients,
        split: !!scenario.split,
        messageFile: scenario.messageFile ?? null,
      },
      RUN_TIMEOUT_MS + 70000,
    );
}

async function main() {
  installCleanupHandlers();
  const started = Date.now();
  const tmpDir = registerTempDir(fs.mkdtempSync(path.join(os.tmpdir(), 'mail-guard-bench-')));
  const counterDir = registerTempDir(fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'mail-guard-bench-')));

  let tools = FORCE_NODE ? null : findPostfixTools();
  log('mail-guard bench (issue 2, "Speed and memory")');
  log(`machine: ${machineLine()}`);
  if (!tools && !FORCE_NODE) log('\n' + INSTALL_HINT + '\n');
  if (FORCE_NODE) log('BENCH_FORCE_NODE=1: Node load generator and Node sink');
  if (tools) log(`load: ${tools.source} (postfix ${postfixVersion()}); latency columns: bench/load.mjs (Node, separate ${LATENCY_MS / 1000} s runs)`);
  else log('load: bench/load.mjs (Node), throughput and latency from the same runs');

  // The content scenarios' messages, as files both load generators send (smtp-source -F, load.mjs messageFile).
  for (const scenario of SCENARIOS.filter((s) => s.message)) {
    const file = path.join(tmpDir, `content-${scenario.message}.eml`);
    fs.writeFileSync(file, contentMessageFile(scenario.message));
    scenario.messageFile = file;
  }

  const sinkPort = await freePort();
  const sink = await startSink({ postfix: tools, port: sinkPort, counterDir });
  log(`sink: ${sink.label}`);

  const proxy = await startProxy({ projectDir, tmpDir, sinkPort });
  let proxyUp = proxy.ok;
  if (proxy.ok) {
    log(`proxy: ${proxy.command} (pid ${proxy.pid}), greeting "${proxy.greeting}"`);
  } else {
    problems.push(`proxy did not start: ${proxy.reason}`);
    log(`\nPROXY NOT RUNNING: ${proxy.reason}`);
    const logs = proxy.logs();
    if (logs) log(logs);
    log('Continuing with the direct runs and the analysis.\n');
  }
  // The reference forwarder: its own free port, the same sink.
  const bareWanted = SCENARIOS.some((s) => BARE_SCENARIOS.has(s.id));
  const bare = bareWanted ? await startBareForwarder({ projectDir, tmpDir, sinkPort, poolSize: BARE_POOL }) : null;
  let bareUp = !!bare?.ok;
  if (bare?.ok) {
    log(`bare forwarder: ${bare.command} (pid ${bare.pid}): ${bare.line}`);
  } else if (bare) {
    problems.push(`bare forwarder did not start: ${bare.reason}`);
    log(`\nBARE FORWARDER NOT RUNNING: ${bare.reason}`);
    log(bare.logs());
    log('Continuing without the bare runs.\n');
  }
  // BENCH_BASELINE's mail-guard: the same config as ours, its own free ports and store, the same sink.
  const baselineWanted = BASELINE_DIR !== null && SCENARIOS.some((s) => BASELINE_SCENARIOS.has(s.id));
  const baseline = baselineWanted ? await startProxy({ projectDir: BASELINE_DIR, tmpDir, sinkPort, name: 'baseline' }) : null;
  if (BASELINE_DIR !== null) {
    log(`mail-guard: ${projectDir} (${commitOf(projectDir)}); baseline: ${BASELINE_DIR} (${commitOf(BASELINE_DIR)})`);
  }
  if (baseline?.ok) {
    log(`baseline: ${baseline.command} (pid ${baseline.pid}), greeting "${baseline.greeting}"`);
  } else if (baseline) {
    problems.push(`baseline did not start: ${baseline.reason}`);
    log(`\nBASELINE NOT RUNNING: ${baseline.reason}`);
    const logs = baseline.logs();
    if (logs) log(logs);
    log('Continuing without the baseline runs.\n');
  }
  // The same checkout with workers: N, its own ports and store, the same sink.
  const workersWanted = WORKERS > 0 && SCENARIOS.some((s) => WORKERS_SCENARIOS.has(s.id));
  const workers = workersWanted ? await startProxy({ projectDir, tmpDir, sinkPort, name: 'workers', workers: WORKERS }) : null;
  if (workers?.ok) {
    log(`workers: ${workers.command} (workers: ${WORKERS}, pid ${workers.pid}), greeting "${workers.greeting}"`);
  } else if (workers) {
    problems.push(`workers: ${WORKERS} did not start: ${workers.reason}`);
    log(`\nWORKERS NOT RUNNING: ${workers.reason}`);
    const logs = workers.logs();
    if (logs) log(logs);
    log('Continuing without the workers runs.\n');
  }
  // The same checkout with policy.content on: its own ports and store, the same sink.
  const contentWanted = SCENARIOS.some((s) => CONTENT_SCENARIOS.has(s.id));
  const contentProxy = contentWanted
    ? await startProxy({ projectDir, tmpDir, sinkPort, name: 'content', content: { maxAddresses: CONTENT_MAX_ADDRESSES } })
    : null;
  if (contentProxy?.ok) {
    log(
      `content: ${contentProxy.command} (policy.content { maxAddresses: ${CONTENT_MAX_ADDRESSES} }, pid ${contentProxy.pid}), greeting "${contentProxy.greeting}"`,
    );
  } else if (contentProxy) {
    problems.push(`content (policy.content on) did not start: ${contentProxy.reason}`);
    log(`\nCONTENT NOT RUNNING: ${contentProxy.reason}`);
    const logs = contentProxy.logs();
    if (logs) log(logs);
    log('Continuing without the content-on runs.\n');
  }
  const roundModes = [
    'direct/proxied',
    bareUp
      ? `/bare (bare: ${SCENARIOS.filter((s) => BARE_SCENARIOS.has(s.id))
          .map((s) => s.id)
          .join(', ')})`
      : '',
    baseline?.ok
      ? `/baseline (baseline: ${SCENARIOS.filter((s) => BASELINE_SCENARIOS.has(s.id))
          .map((s) => s.id)
          .join(', ')})`
      : '',
    workers?.ok
      ? `/workers (workers: ${WORKERS}, in ${SCENARIOS.filter((s) => WORKERS_SCENARIOS.has(s.id))
          .map((s) => s.id)
          .join(', ')})`
      : '',
    contentProxy?.ok
      ? `/content (content on, in ${SCENARIOS.filter((s) => CONTENT_SCENARIOS.has(s.id))
          .map((s) => s.id)
          .join(', ')})`
      : '',
  ].join('');
  log(`scale ${SCALE}, rounds ${ROUNDS} (${roundModes} ` + `interleaved, order rotating), time cap ${RUN_TIMEOUT_MS / 1000} s a run`);
  log(`scenarios: ${[...SCENARIOS.map((s) => `${s.id}=${s.messages} msgs`), ...(STORE_WANTED ? [`store=${STORE_RECORDS} records`] : [])].join(', ')}`);

  let startIdleRss = null;
  if (proxyUp) {
    await sleep(1000);
    startIdleRss = rssBytes(proxy.pid);
    // Warm-up (JIT, pools): not measured.
    const warm = [
      { ...(SCENARIOS.find((s) => s.id === 'pass') ?? ALL_SCENARIOS[0]), messages: count(2000) },
      { ...ALL_SCENARIOS[2], messages: count(200) },
    ];
    for (const scenario of warm) await warmRun(scenario, proxy.port, tools);
    await sink.settle(300, 10000);
    log(`proxy idle RSS after start ${(startIdleRss / MB).toFixed(1)} MB, after warm-up ${(rssBytes(proxy.pid) / MB).toFixed(1)} MB`);
  }
  if (baseline?.ok) {
    // The same warm-up as ours: neither starts its measured runs cold.
    await sleep(1000);
    const baselineIdle = rssBytes(baseline.pid);
    const warm = [
      { ...(SCENARIOS.find((s) => s.id === 'pass') ?? ALL_SCENARIOS[0]), messages: count(2000) },
      { ...ALL_SCENARIOS[2], messages: count(200) },
    ];
    for (const scenario of warm) await warmRun(scenario, baseline.port, tools);
    await sink.settle(300, 10000);
    log(`baseline idle RSS after start ${(baselineIdle / MB).toFixed(1)} MB, after warm-up ${(rssBytes(baseline.pid) / MB).toFixed(1)} MB`);
  }
  if (workers?.ok) {
    // The same warm-up as the proxy's: every worker gets some of it (the primary hands connections round-robin).
    await sleep(1000);
    const workersIdle = rssBytes(processTree(workers.pid));
    const warm = [
      { ...(SCENARIOS.find((s) => s.id === 'pass') ?? ALL_SCENARIOS[0]), messages: count(2000) },
      { ...ALL_SCENARIOS[2], messages: count(200) },
    ];
    for (const scenario of warm) await warmRun(scenario, workers.port, tools);
    await sink.settle(300, 10000);
    const tree = processTree(workers.pid);
    log(
      `workers idle RSS after start ${(workersIdle / MB).toFixed(1)} MB, after warm-up ${(rssBytes(tree) / MB).toFixed(1)} MB (${tree.length} processes: primary + ${tree.length - 1} workers)`,
    );
  }
  if (contentProxy?.ok) {
    // The same warm-up as the proxy's, then a few of each content message through both, so neither side of on/off starts cold.
    await sleep(1000);
    const contentIdle = rssBytes(contentProxy.pid);
    const warm = [
      { ...(SCENARIOS.find((s) => s.id === 'pass') ?? ALL_SCENARIOS[0]), messages: count(2000) },
      { ...ALL_SCENARIOS[2], messages: count(200) },
    ];
    for (const scenario of warm) await warmRun(scenario, contentProxy.port, tools);
    const contentWarm = SCENARIOS.filter((s) => CONTENT_SCENARIOS.has(s.id)).map((s) => ({
      ...s,
      messages: Math.max(s.sessions, Math.round(s.messages / 10)),
    }));
    for (const scenario of contentWarm) {
      await warmRun(scenario, contentProxy.port, tools);
      if (proxyUp) await warmRun(scenario, proxy.port, tools);
    }
    await sink.settle(300, 10000);
    log(`content idle RSS after start ${(contentIdle / MB).toFixed(1)} MB, after warm-up ${(rssBytes(contentProxy.pid) / MB).toFixed(1)} MB`);
  }
  if (bareUp) {
    // The same warm-up as the proxy's pass warm-up (JIT, pool): not measured.
    const bareIdle = rssBytes(bare.pid);
    const scenario = { ...(SCENARIOS.find((s) => s.id === 'pass') ?? ALL_SCENARIOS[0]), messages: count(2000) };
    await warmRun(scenario, bare.port, tools);
    await sink.settle(300, 10000);
    log(`bare forwarder idle RSS after start ${(bareIdle / MB).toFixed(1)} MB, after warm-up ${(rssBytes(bare.pid) / MB).toFixed(1)} MB`);
  }
  log('');

  const runs = [];
  const checkProxy = () => {
    if (proxyUp && !proxy.alive()) {
      proxyUp = false;
      problems.push(`proxy died during the runs (code ${proxy.entry.code}, signal ${proxy.entry.signal})`);
      log(`\nPROXY DIED (code ${proxy.entry.code}, signal ${proxy.entry.signal})\n${proxy.logs()}\n`);
    }
    return proxyUp;
  };
  let baselineUp = !!baseline?.ok;
  const checkBaseline = () => {
    if (baselineUp && !baseline.alive()) {
      baselineUp = false;
      problems.push(`baseline died during the runs (code ${baseline.entry.code}, signal ${baseline.entry.signal})`);
      log(`\nBASELINE DIED (code ${baseline.entry.code}, signal ${baseline.entry.signal})\n${baseline.logs()}\n`);
    }
    return baselineUp;
  };
  let workersUp = !!workers?.ok;
  const checkWorkers = () => {
    if (workersUp && !workers.alive()) {
      workersUp = false;
      problems.push(`workers died during the runs (code ${workers.entry.code}, signal ${workers.entry.signal})`);
      log(`\nWORKERS DIED (code ${workers.entry.code}, signal ${workers.entry.signal})\n${workers.logs()}\n`);
    }
    return workersUp;
  };
  let contentUp = !!contentProxy?.ok;
  const checkContent = () => {
    if (contentUp && !contentProxy.alive()) {
      contentUp = false;
      problems.push(`content died during the runs (code ${contentProxy.entry.code}, signal ${contentProxy.entry.signal})`);
      log(`\nCONTENT DIED (code ${contentProxy.entry.code}, signal ${contentProxy.entry.signal})\n${contentProxy.logs()}\n`);
    }
    return contentUp;
  };
  const checkBare = () => {
    if (bareUp && !bare.alive()) {
      bareUp = false;
      problems.push(`bare forwarder died during the runs (code ${bare.entry.code}, signal ${bare.entry.signal})`);
      log(`\nBARE FORWARDER DIED (code ${bare.entry.code}, signal ${bare.entry.signal})\n${bare.logs()}\n`);
    }
    return bareUp;
  };

  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      // Order rotates round by round, so no mode always runs first or last
      // (two modes: alternating; three: each position once in three rounds;
      // four: in four). baseline comes right after proxied, so the pair the
      // before/after question is about ran next to each other in all but one
      // position of the rotation.
      const base = [
        'direct',
        'proxied',
        ...(baseline?.ok && BASELINE_SCENARIOS.has(scenario.id) ? ['baseline'] : []),
        ...(workers?.ok && WORKERS_SCENARIOS.has(scenario.id) ? ['workers'] : []),
        ...(bare?.ok && BARE_SCENARIOS.has(scenario.id) ? ['bare'] : []),
        ...(contentProxy?.ok && CONTENT_SCENARIOS.has(scenario.id) ? ['content'] : []),
      ];
      const shift = (round - 1) % base.length;
      const modes = [...base.slice(shift), ...base.slice(0, shift)];
      for (const mode of modes) {
        if (mode === 'proxied' && !checkProxy()) continue;
        if (mode === 'bare' && !checkBare()) continue;
        if (mode === 'baseline' && !checkBaseline()) continue;
        if (mode === 'workers' && !checkWorkers()) continue;
        if (mode === 'content' && !checkContent()) continue;
        const servers = { proxied: proxy, bare, baseline, workers, content: contentProxy };
        const server = servers[mode] ?? null;
        const port = server ? server.port : sinkPort;
        const record = await throughputRun({ scenario, mode, round, port, sink, tools, server });
        runs.push(record);
        if (record.failed) problems.push(`round ${round} ${scenario.id} ${mode}: ${record.note}`);
        process.stdout.write(
          `  round ${round} ${scenario.id.padEnd(5)} ${mode.padEnd(7)} ` +
            `${Math.round(record.msgsPerSec).toLocaleString('en-US').padStart(7)} msgs/s` +
            `${record.copiesPerSec ? `  ${Math.round(record.copiesPerSec).toLocaleString('en-US')} copies/s` : ''}` +
            `${record.timedOut ? '  (time cap)' : ''}${record.note ? `  [${record.note}]` : ''}\n`,
        );
        if (mode === 'proxied') checkProxy();
        if (mode === 'bare') checkBare();
        if (mode === 'baseline') checkBaseline();
        if (mode === 'workers') checkWorkers();
        if (mode === 'content') checkContent();
      }
    }
  }

  // Latency: with smtp-source (no latency of its own) separate Node-generator runs,
  // same sessions and sizes; with the Node fallback, the throughput runs' own.
  const latency = {};
  for (const scenario of SCENARIOS) {
    latency[scenario.id] = {};
    if (!tools) {
      for (const mode of ['direct', 'proxied', 'bare', 'baseline', 'workers', 'content']) {
        const list = runs.filter((r) => r.scenario === scenario.id && r.mode === mode && r.latency);
        if (list.length) latency[scenario.id][mode] = list.reduce((a, b) => (b.latency.rate > a.latency.rate ? b : a)).latency;
      }
      continue;
    }
    if (LATENCY_MS <= 0) continue;
    for (const mode of [
      'direct',
      'proxied',
      ...(baseline?.ok && BASELINE_SCENARIOS.has(scenario.id) ? ['baseline'] : []),
      ...(contentProxy?.ok && CONTENT_SCENARIOS.has(scenario.id) ? ['content'] : []),
    ]) {
      if (mode === 'proxied' && !checkProxy()) continue;
      if (mode === 'baseline' && !checkBaseline()) continue;
      if (mode === 'content' && !checkContent()) continue;
      await sink.settle(200, 10000);
      const ports = { direct: sinkPort, baseline: baseline?.port, content: contentProxy?.port };
      const result = await latencyRun(scenario, ports[mode] ?? proxy.port);
      latency[scenario.id][mode] = result;
      process.stdout.write(
        `  latency ${scenario.id.padEnd(5)} ${mode.padEnd(7)} p50 ${result.latency?.p50?.toFixed(2) ?? '—'} ms, ` +
          `p99 ${result.latency?.p99?.toFixed(2) ?? '—'} ms (${Math.round(result.rate)} msgs/s, ${result.failed} failed)\n`,
      );
      if (result.ok === 0) problems.push(`latency ${scenario.id} ${mode}: no message went through`);
    }
  }

  log('\n  analysis: 50,000 addresses in one To …');
  const analysis = await runAnalysis();
  if (!analysis.ok) problems.push(`analysis: ${analysis.reason}`);
  else
    log(
      `  analysis: header ${(analysis.headerBytes / 1024).toFixed(0)} KB, first call ${analysis.coldMs.toFixed(1)} ms, then ${analysis.warmMs.map((m) => m.toFixed(1)).join(', ')} ms → ${outcomeText(analysis.outcome)}`,
    );
  if (analysis.ok) {
    // Not a target: the most parsing the cap (policy.maxAddresses 10,000) still allows.
    const atCap = await runAnalysis(10000);
    if (atCap.ok)
      log(
        `  analysis (info): 10,000 addresses, at the cap so fully parsed: first call ${atCap.coldMs.toFixed(1)} ms, then ${atCap.warmMs.map((m) => m.toFixed(1)).join(', ')} ms → ${outcomeText(atCap.outcome)}`,
      );
  }
  let contentScan = null;
  if (contentWanted) {
    log('\n  content scan per message (in-process, bench/content-scan.mjs): the three content messages …');
    contentScan = await runContentScan();
    if (!contentScan.ok) problems.push(`content scan: ${contentScan.reason}`);
    log(`  content scan: ${contentScan.ok ? 'measured (figures under "content scanning" below)' : `not measured: ${contentScan.reason}`}`);
  }
  if (STORE_WANTED) {
    log(`\n  store: file store, ${STORE_RECORDS.toLocaleString('en-US')} records (every 100th held), each put fsynced, 64 at a time …`);
    const store = await runFileStore();
    if (!store.ok) problems.push(`store: ${store.reason}`);
    else if (store.check) problems.push(`store: a listing was wrong (${store.check}), so its timings are no figure`);
    else {
      const t = store.timings;
      log(
        `  store (info): puts ${(store.putMs / 1000).toFixed(1)} s (${store.putsPerSec} puts/s); a fresh instance, list limit 50: ` +
          `held ${t['held, first call after open']} ms first call, ${t['held, again']} ms again; no filter ${t['no filter']} ms, ` +
          `page 2 ${t['no filter, page 2']} ms; countByStatus ${t['countByStatus']} ms`,
      );
    }
  }
  // The same two for BENCH_BASELINE, then the per-message cost of both, one
  // run of each a round in rotating order (one process at a time: the machine
  // has two cores and the other is the bench itself).
  let analysisPairs = null;
  if (BASELINE_DIR !== null) {
    const baseAnalysis = await runAnalysis(50000, BASELINE_DIR);
    if (!baseAnalysis.ok) problems.push(`baseline analysis: ${baseAnalysis.reason}`);
    else
      log(
        `  analysis (baseline): header ${(baseAnalysis.headerBytes / 1024).toFixed(0)} KB, first call ${baseAnalysis.coldMs.toFixed(1)} ms, then ${baseAnalysis.warmMs.map((m) => m.toFixed(1)).join(', ')} ms → ${outcomeText(baseAnalysis.outcome)}`,
      );
    if (baseAnalysis.ok) {
      const atCap = await runAnalysis(10000, BASELINE_DIR);
      if (atCap.ok)
        log(
          `  analysis (baseline, info): 10,000 addresses: first call ${atCap.coldMs.toFixed(1)} ms, then ${atCap.warmMs.map((m) => m.toFixed(1)).join(', ')} ms → ${outcomeText(atCap.outcome)}`,
        );
    }
    log(`\n  analysis per message: typical 5 KB clean message, ${PER_MESSAGE_CALLS.toLocaleString('en-US')} calls a run, ${ROUNDS} round(s) …`);
    const perMessage = { guard: [], baseline: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? ['guard', 'baseline'] : ['baseline', 'guard'];
      for (const who of order) {
        const result = { round, ...(await runAnalysisMessage(who === 'guard' ? projectDir : BASELINE_DIR)) };
        perMessage[who].push(result);
        const name = who === 'guard' ? 'mail-guard' : 'baseline';
        if (!result.ok) problems.push(`round ${round} analysis per message, ${name}: ${result.reason}`);
        log(
          `  round ${round} analysis per message ${name.padEnd(10)} ${result.ok ? `${result.usPerMsg.toFixed(2)} µs/msg` : `not measured: ${result.reason}`}`,
        );
      }
    }
    analysisPairs = { fifty: { guard: analysis, baseline: baseAnalysis }, perMessage };
  }

  const summary = summarise(SCENARIOS, runs, latency);
  log(
    `\n== all runs (smtp-source/node-load -> [mail-guard${BASELINE_DIR !== null ? ', baseline' : ''} or bare forwarder ->] sink; rates over what reached the sink; CPU and RSS of the process in the middle)`,
  );
  log(runsTable(runs));
  if (Object.values(latency).some((l) => l.direct || l.proxied || l.bare)) {
    log(`\n== latency per message (bench/load.mjs; persistent: MAIL to final 250; one connection per message: connect to final 250)`);
    log(latencyTable(latency, SCENARIOS));
  }
  log(
    `\n== side by side (msgs/s: best of rounds; ratios: median of the per-round pairs, both runs of a pair in the same round; CPU and RSS of mail-guard / ${BASELINE_DIR !== null ? 'the baseline / ' : ''}the bare forwarder)`,
  );
  log(mainTable(summary));
  if (startIdleRss) {
    const big = summary.find((s) => s.scenario.id === 'big')?.proxied;
    const strict = big?.inFlightBytes
      ? ` (with that as the baseline, the 5 MB limit would be ${((2 * big.inFlightBytes + startIdleRss) / MB).toFixed(1)} MB)`
      : '';
    log(
      `proxy idle RSS after start: ${(startIdleRss / MB).toFixed(1)} MB${strict}; the 5 MB target uses the idle RSS just before each 5 MB run ("all runs", idle RSS)`,
    );
  }
  if (BASELINE_DIR !== null) {
    log(
      `\nmail-guard (${commitOf(projectDir)}) / baseline (${BASELINE_DIR}, ${commitOf(BASELINE_DIR)}), both runs of a pair in the same round` +
        ` (above 1.00× in msgs/s and copies/s: mail-guard faster; above 1.00× in CPU ms/msg and µs/msg: mail-guard costlier):`,
    );
    if (!summary.some((s) => s.baselineRan)) log('  (no baseline runs)');
    const lines = [...baselineLines(summary), ...(analysisPairs ? analysisPairLines(analysisPairs) : [])];
    for (const line of lines) log(`  ${line}`);
  }
  log('\n== targets (measured, not asserted)');
  log(targetsTable(targets(summary, runs, analysis)));
  const versusBare = bareLines(summary);
  if (versusBare.length) {
    log("against the bare forwarder (msgs/s: median of the per-round mail-guard/bare pairs; CPU ms/msg of each one's best run):");
    for (const line of versusBare) log(`  ${line}`);
  }
  const onOff = contentLines(summary);
  if (onOff.length) {
    log(
      `\n== content scanning: on (policy.content { maxAddresses: ${CONTENT_MAX_ADDRESSES} }) against off, this checkout, the same rounds` +
        ' (best run of each; on/off: median of the per-round pairs; above 1.00× in msgs/s: on faster, in CPU and RSS: on costlier)',
    );
    for (const line of onOff) log(`  ${line}`);
    for (const line of contentScanLines(contentScan)) log(`  ${line}`);
  }
  const perCore = workersLines(summary, { workers: WORKERS, cores: os.cpus().length, projectTo: 16 });
  if (perCore.length) {
    log(
      `\n== workers: ${WORKERS} against workers: 1 (both this checkout, the same rounds; not a target on a ${os.cpus().length}-core machine shared with the load and the sink)`,
    );
    for (const line of perCore) log(`  ${line}`);
  }

  log(`\nwall time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (problems.length) {
    log('\nNOT EVERYTHING COULD BE MEASURED:');
    for (const p of problems) log(`  - ${p}`);
  }
  return problems.length ? 1 : 0;
}

let exitCode;
try {
  exitCode = await main();
} catch (error) {
  process.stderr.write(`bench: ${error?.stack ?? error}\n`);
  exitCode = 1;
} finally {
  await cleanupAll();
}
process.exit(exitCode);
