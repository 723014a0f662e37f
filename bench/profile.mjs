#!/usr/bin/env node
// A CPU-time profile of the pass path (issue 13), and where the rest of the wall
// time goes. `--cpu-prof` samples wall time: on two cores shared with the load
// generator and the sink it charges the time mail-guard sat descheduled to
// whatever frame was on the stack (writeUtf8String). perf samples on-CPU time
// only, so its shares are shares of CPU actually spent.
//
//   npm run build && node bench/profile.mjs
//
// Starts smtp-sink, then mail-guard (this checkout's dist/, the bench's proxied
// config) under `node --perf-basic-prof`, warms it up, then runs smtp-source
// while `perf record -g` samples the mail-guard process, and prints:
//   - msgs/s, CPU ms/msg, and the main thread's wall time split into on CPU,
//     runnable but descheduled (run-queue wait, /proc/PID/task/PID/schedstat) and
//     off CPU (waiting for I/O: the event loop idle);
//   - the upstream pool's waiting (mailguard_upstream_pool_wait_seconds from
//     /metrics, when this checkout has it): how many transactions waited for a
//     session and how long on average;
//   - perf's top frames by self time, and the same grouped (JS / GC / V8 runtime /
//     node+libuv / libc / kernel).
//
// Environment:
//   PROFILE_TARGET=mail-guard   or bare (bench/bare-forwarder.mjs, pool 20)
//   PROFILE_SCENARIO=pass       or conn (one connection per message), or pipelined: 20 persistent sessions
//                               whose MAIL, RCPT and DATA go in one segment (smtp-source never pipelines;
//                               a Node client in this process sends them, pinned to CPU 1 with PROFILE_PIN=1)
//   PROFILE_PROJECT=DIR         the built checkout whose dist/ runs (default: this one), e.g. a worktree of an older commit
//   PROFILE_PERF=1              0: no perf, only msgs/s, CPU ms/msg and the main thread's time split (cheap before/after pairs)
//   PROFILE_MESSAGES=20000      messages in the sampled run (2,000 warm-up before it)
//   PROFILE_POOL=20             upstream.pool in the config (the bench's value); "default" leaves the key out
//   PROFILE_PIN=0               1: the target on CPU 0, smtp-source and smtp-sink on CPU 1 (taskset)
//   PROFILE_TOP=30              frames listed
//   PROFILE_FREQ=1999           perf sampling frequency (Hz)
//   PROFILE_KEEP=0              1: keep perf.data and the perf map (path printed)
//   PROFILE_REPORT=FILE         only print the perf part for a kept perf.data (its perf map must still be in /tmp;
//                               PROFILE_MAP=/tmp/perf-PID.map to clean that map of reused addresses first)
//
// Needs perf (linux-perf) and Postfix's smtp-source/smtp-sink; as root, or with
// kernel.perf_event_paranoid ≤ 1.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs } from './procstat.mjs';
import { cleanupAll, freePort, installCleanupHandlers, registerTempDir, sleep, startChild, stopChild, waitForGreeting } from './procs.mjs';
import { proxyConfigYaml } from './proxy.mjs';
import { findPostfixTools, runSmtpSource, sourceArgs, startSink } from './tools.mjs';
import { HELO, RECIPIENT, SENDER, body, header } from './messages.mjs';
import net from 'node:net';

const here = path.dirname(fileURLToPath(import.meta.url));
const projectDir = path.resolve(here, '..');
const env = (name, fallback) => process.env[name] ?? fallback;
const TARGET = env('PROFILE_TARGET', 'mail-guard');
const SCENARIO = env('PROFILE_SCENARIO', 'pass');
const MESSAGES = Number(env('PROFILE_MESSAGES', 20000));
const POOL = env('PROFILE_POOL', '20');
const PIN = env('PROFILE_PIN', '0') === '1';
const TOP = Number(env('PROFILE_TOP', 30));
const FREQ = Number(env('PROFILE_FREQ', 1999));
const KEEP = env('PROFILE_KEEP', '0') === '1';
const PROJECT = path.resolve(env('PROFILE_PROJECT', projectDir));
const PERF = env('PROFILE_PERF', '1') !== '0';
const KEPT = `/tmp/profile-${TARGET}-${process.pid}.data`;
// Piped into head: a closed stdout must not turn into a loop of write errors.
process.stdout.on('error', () => {});
const log = (s = '') => process.stdout.write(s + '\n');

/** [run ns, run-queue wait ns] of one thread. */
function schedstat(pid, tid = pid) {
  const [run, wait] = fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return [run ?? 0, wait ?? 0];
}

async function scrape(adminPort) {
  try {
    const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
    return await res.text();
  } catch {
    return '';
  }
}
const metricValue = (text, name) => {
  const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm'));
  return m ? Number(m[1]) : null;
};

/** Where a frame's time belongs, from perf's symbol and DSO. */
function groupOf(symbol, dso) {
  if (dso.includes('kernel')) return 'kernel';
  if (dso.startsWith('[JIT]') || /^(JS|LazyCompile|Function|InterpretedFunction):/.test(symbol)) return 'JS (compiled or interpreted)';
  if (/^(Builtins?_|Builtin:|Stub:|BytecodeHandler:|Handler:)/.test(symbol)) return 'V8 builtins and IC stubs';
  if (/Heap|Scavenger|MarkCompact|Sweeper|GC|Evacuat|Marking|Mark(er|Bit)|Minor/.test(symbol)) return 'GC';
  if (/libc|ld-linux/.test(dso)) return 'libc';
  if (/^(v8::|Runtime_)/.test(symbol) || /v8::internal/.test(symbol)) return 'V8 runtime (C++)';
  if (/^(node::|uv_|uv__)/.test(symbol)) return 'node/libuv (C++)';
  return `other (${dso || '?'})`;
}

/**
 * V8 reuses the code space of functions it dropped (start-up code: ajv, fastify)
 * for new code, and --perf-basic-prof only appends to the map, so perf would
 * name a hot function after whatever first lived at its address. Keeps, of
 * entries that overlap, the newest ones (the map is in order of creation).
 */
function newestMapEntries(perfMap) {
  if (!fs.existsSync(perfMap)) return;
  const entries = fs
    .readFileSync(perfMap, 'utf8')
    .split('\n')
    .map((line, idx) => {
      const m = line.match(/^([0-9a-f]+) ([0-9a-f]+) (.*)$/);
      return m ? { start: parseInt(m[1], 16), end: parseInt(m[1], 16) + parseInt(m[2], 16), line, idx } : null;
    })
    .filter(Boolean)
    .sort((a, b) => a.start - b.start);
  const kept = [];
  for (let i = 0; i < entries.length;) {
    // A cluster: entries that overlap one another, transitively.
    let end = entries[i].end;
    let j = i + 1;
    while (j < entries.length && entries[j].start < end) end = Math.max(end, entries[j++].end);
    const chosen = [];
    for (const e of entries.slice(i, j).sort((a, b) => b.idx - a.idx)) {
      if (!chosen.some((c) => e.start < c.end && c.start < e.end)) chosen.push(e);
    }
    kept.push(...chosen);
    i = j;
  }
  fs.writeFileSync(perfMap, kept.map((e) => e.line).join('\n') + '\n');
}

function report(perfData, perfMap, messages = 0) {
  newestMapEntries(perfMap);
  const out = execFileSync(
    'perf',
    ['report', '-i', perfData, '--no-children', '--stdio', '--sort', 'dso,symbol', '-g', 'none', '--percent-limit', '0', '-t', '|'],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const rows = [];
  for (const line of out.split('\n')) {
    // "  12.34%|[JIT] tid 123|[.] JS:*onData /path/ingress.js:200"
    const m = line.match(/^\s*([0-9.]+)%\|([^|]*)\|\[[.k]\]\s+([^|]*)/);
    if (m) rows.push({ share: Number(m[1]), dso: m[2].trim(), symbol: m[3].trim() });
  }
  log(`\nperf: top ${TOP} frames by self CPU time (of all samples in the target)`);
  for (const r of rows.slice(0, TOP)) log(`  ${r.share.toFixed(2).padStart(6)}%  ${r.symbol.slice(0, 110)}  [${r.dso}]`);
  const groups = new Map();
  for (const r of rows) groups.set(groupOf(r.symbol, r.dso), (groups.get(groupOf(r.symbol, r.dso)) ?? 0) + r.share);
  log('\nperf: self CPU time by kind');
  for (const [g, share] of [...groups].sort((a, b) => b[1] - a[1])) log(`  ${share.toFixed(1).padStart(5)}%  ${g}`);
  // Inclusive time of mail-guard's and its libraries' own functions: which subtree the self time above sits under.
  const inclusive = execFileSync(
    'perf',
    ['report', '-i', perfData, '--children', '--stdio', '--sort', 'symbol', '-g', 'none', '--percent-limit', '0.5', '-t', '|'],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  log(`\nperf: top ${TOP} JavaScript functions by inclusive CPU time (self + callees; node: internals left out)`);
  let listed = 0;
  for (const line of inclusive.split('\n')) {
    const m = line.match(/^\s*([0-9.]+)%\s*\|\s*([0-9.]+)%\s*\|\[[.k]\]\s+JS:([^|]*)/);
    if (!m || m[3].includes(' node:') || listed++ >= TOP) continue;
    log(`  ${Number(m[1]).toFixed(2).padStart(6)}%  ${m[3].trim().replace(`file://${projectDir}/`, '').slice(0, 120)}`);
  }
  owners(perfData, messages);
  if (KEEP) log(`\nkept: ${KEPT} (perf report -i ${KEPT}), perf map ${perfMap}`);
}

/**
 * Every sample charged to the innermost JavaScript function on its stack that
 * belongs to mail-guard (by file) or to a package (by name), skipping Node's own
 * node: modules: so a write syscall made for smtp-server's reply counts for
 * smtp-server, a GC for whoever allocated. Prints each owner's share and how
 * much of it was spent in the kernel.
 */
function owners(perfData, messages) {
  const text = execFileSync('perf', ['script', '-i', perfData, '-F', 'ip,sym,dso'], {
    encoding: 'utf8',
    maxBuffer: 1024 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const shares = new Map();
  let total = 0;
  const add = (owner, kernel) => {
    const entry = shares.get(owner) ?? { all: 0, kernel: 0 };
    entry.all++;
    if (kernel) entry.kernel++;
    shares.set(owner, entry);
    total++;
  };
  for (const sample of text.split(/\n\s*\n/)) {
    const frames = sample.split('\n').filter((l) => l.trim());
    if (!frames.length) continue;
    const kernel = /kernel/.test(frames[0]);
    let owner = null;
    for (const frame of frames) {
      const js = frame.match(/JS:\S*\s+(\S+?):\d+:\d+/);
      if (!js) continue;
      const where = js[1];
      if (where.startsWith('node:')) continue;
      const pkg = where.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
      owner = pkg ? pkg[1] : where.includes('/dist/') ? `mail-guard ${where.slice(where.indexOf('/dist/') + 6)}` : where;
      break;
    }
    add(
      owner ??
        (frames.some((f) => f.includes('JS:'))
          ? 'node: modules only'
          : kernel
            ? 'no JavaScript (kernel: sockets, scheduler)'
            : 'no JavaScript (V8, GC, libuv)'),
      kernel,
    );
  }
  log(`\nperf: CPU time by owner (innermost mail-guard file or package on the stack; ${total} samples)`);
  // One sample is 1/FREQ s of CPU: per message, in µs.
  const perMessage = (n) => (messages ? `${((n * 1e6) / FREQ / messages).toFixed(1).padStart(6)} µs/msg  ` : '');
  for (const [owner, { all, kernel }] of [...shares].sort((a, b) => b[1].all - a[1].all).slice(0, TOP)) {
    log(`  ${((100 * all) / total).toFixed(1).padStart(5)}%  ${perMessage(all)}${owner.padEnd(48)} (kernel ${((100 * kernel) / total).toFixed(1)}%)`);
  }
}

/**
 * A pipelining mailer: `sessions` persistent sessions, each sending MAIL, RCPT
 * and DATA in one write and the message with its dot in the next. Resolves with
 * the messages answered 250.
 */
const DOT_LINE = Buffer.from('.\r\n');
async function pipelinedLoad(port, sessions, messages, size) {
  let next = 0;
  let ok = 0;
  const one = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      let buffer = '';
      let want = 1; // the greeting
      let step = 'greeting';
      const send = () => {
        if (next >= messages) {
          step = 'quit';
          want = 1;
          socket.write('QUIT\r\n');
          return;
        }
        const seq = next++;
        step = 'envelope';
        want = 3;
        socket.write(`MAIL FROM:<${SENDER}>\r\nRCPT TO:<${RECIPIENT}>\r\nDATA\r\n`);
        socket.message = Buffer.concat([header(seq), body(size), DOT_LINE]);
      };
      socket.on('data', (chunk) => {
        buffer += chunk.toString('latin1');
        for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
          const line = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (line[3] === '-') continue;
          if (--want > 0) continue;
          if (step === 'greeting') {
            step = 'ehlo';
            want = 1;
            socket.write(`EHLO ${HELO}\r\n`);
          } else if (step === 'ehlo') send();
          else if (step === 'envelope') {
            if (!line.startsWith('354')) return reject(new Error(`envelope: ${line}`));
            step = 'dot';
            want = 1;
            socket.write(socket.message);
          } else if (step === 'dot') {
            if (line.startsWith('250')) ok++;
            send();
          } else if (step === 'quit') {
            socket.end();
            resolve();
          }
        }
      });
      socket.on('error', reject);
      socket.on('close', () => (step === 'quit' ? resolve() : reject(new Error(`session closed at ${step}: ${buffer.slice(0, 200)}`))));
      socket.setTimeout(30000, () => socket.destroy(new Error(`no reply within 30 s at ${step}`)));
    });
  await Promise.all(Array.from({ length: sessions }, one));
  return ok;
}

async function main() {
  installCleanupHandlers();
  const tools = findPostfixTools();
  if (!tools) throw new Error('smtp-source/smtp-sink not found (apt-get install postfix)');
  const tmp = registerTempDir(fs.mkdtempSync(path.join(os.tmpdir(), 'mail-guard-profile-')));
  const sinkPort = await freePort();
  const sink = await startSink({ postfix: tools, port: sinkPort, counterDir: tmp });
  const port = await freePort();
  const adminPort = await freePort();
  const nodeArgs = PERF ? ['--perf-basic-prof', '--interpreted-frames-native-stack'] : [];
  let args;
  if (TARGET === 'bare') {
    args = [...nodeArgs, path.join(here, 'bare-forwarder.mjs'), String(port), String(sinkPort), '20'];
  } else {
    const storePath = path.join(tmp, 'store');
    fs.mkdirSync(storePath);
    let yaml = proxyConfigYaml({ smtpPort: port, adminPort, sinkPort, storePath });
    yaml = POOL === 'default' ? yaml.replace(/, pool: \d+/, '') : yaml.replace(/pool: \d+/, `pool: ${POOL}`);
    fs.writeFileSync(path.join(tmp, 'mail-guard.yaml'), yaml);
    args = [...nodeArgs, path.join(PROJECT, 'dist', 'cli', 'main.js'), 'serve', '-c', path.join(tmp, 'mail-guard.yaml')];
  }
  const pin = (cpu, cmd, cmdArgs) => (PIN ? ['taskset', ['-c', String(cpu), cmd, ...cmdArgs]] : [cmd, cmdArgs]);
  const [cmd, cmdArgs] = pin(0, process.execPath, args);
  const target = startChild(TARGET, cmd, cmdArgs, { cwd: PROJECT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (!(await waitForGreeting(port, { totalMs: 30000, isDead: () => target.exited })).ok) throw new Error(`${TARGET} did not greet`);
  // taskset execs node: same pid.
  const pid = target.child.pid;
  if (PIN) for (const p of [sink.pid, process.pid]) execFileSync('taskset', ['-pc', '1', String(p)], { stdio: 'ignore' });

  const scenario = { sessions: 20, size: 5120, persistent: SCENARIO !== 'conn', recipients: 1 };
  const source = PIN ? 'taskset' : tools.source;
  const srcArgs = (n) => (PIN ? ['-c', '1', tools.source, ...sourceArgs(scenario, port, n)] : sourceArgs(scenario, port, n));
  const load = (n) => (SCENARIO === 'pipelined' ? pipelinedLoad(port, scenario.sessions, n, scenario.size) : runSmtpSource(source, srcArgs(n), 120000));
  await load(2000);
  await sink.settle(200, 10000);

  const perfData = path.join(tmp, 'perf.data');
  const metricsBefore = TARGET === 'bare' ? '' : await scrape(adminPort);
  const perf = !PERF ? null : spawn('perf', ['record', '-F', String(FREQ), '-g', '-p', String(pid), '-o', perfData], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (perf) await sleep(300); // perf attaches
  const sinkBefore = sink.messages();
  const cpuBefore = cpuMs(pid);
  const schedBefore = schedstat(pid);
  const started = process.hrtime.bigint();
  await load(MESSAGES);
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const schedAfter = schedstat(pid);
  const cpuAfter = cpuMs(pid);
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((resolve) => perf.once('exit', resolve));
  }
  const delivered = (await sink.settle(250, 10000)) - sinkBefore;
  const metricsAfter = TARGET === 'bare' ? '' : await scrape(adminPort);

  const runMs = (schedAfter[0] - schedBefore[0]) / 1e6;
  const queueMs = (schedAfter[1] - schedBefore[1]) / 1e6;
  log(
    `${TARGET}${TARGET === 'bare' ? '' : ` (${PROJECT})`}, scenario ${SCENARIO}, pool ${TARGET === 'bare' ? 20 : POOL}, ${PIN ? 'pinned (target CPU 0, load+sink CPU 1)' : 'not pinned'}`,
  );
  log(`  ${delivered} messages in ${wallMs.toFixed(0)} ms: ${Math.round((delivered * 1000) / wallMs)} msgs/s`);
  log(`  CPU (all threads) ${((cpuAfter - cpuBefore) / delivered).toFixed(3)} ms/msg`);
  log(
    `  main thread: on CPU ${((100 * runMs) / wallMs).toFixed(1)}% of wall, runnable but descheduled ${((100 * queueMs) / wallMs).toFixed(1)}%,` +
      ` idle (waiting for I/O) ${((100 * (wallMs - runMs - queueMs)) / wallMs).toFixed(1)}%  (event-loop utilisation ≈ on CPU)`,
  );
  const waitSum = (t) => metricValue(t, 'mailguard_upstream_pool_wait_seconds_sum');
  const waitCount = (t) => metricValue(t, 'mailguard_upstream_pool_wait_seconds_count');
  if (waitCount(metricsAfter) !== null) {
    const n = waitCount(metricsAfter) - (waitCount(metricsBefore) ?? 0);
    const s = waitSum(metricsAfter) - (waitSum(metricsBefore) ?? 0);
    log(
      `  upstream pool: ${n} of ${delivered} transactions waited for a session, ${n ? ((s * 1000) / n).toFixed(2) : 0} ms on average` +
        ` (${((s * 1000) / delivered).toFixed(3)} ms per message); sessions open at the end: ${metricValue(metricsAfter, 'mailguard_upstream_pool_sessions') ?? '?'}`,
    );
  }
  const perfMap = `/tmp/perf-${pid}.map`;
  if (perf) {
    if (KEEP) fs.cpSync(perfData, KEPT);
    report(perfData, perfMap, delivered);
  }
  await stopChild(target, 5000);
  await stopChild(sink.entry, 3000);
  if (!KEEP) fs.rmSync(perfMap, { force: true });
  await cleanupAll();
}

const again = process.env.PROFILE_REPORT;
(again ? Promise.resolve(report(again, process.env.PROFILE_MAP ?? '')) : main()).catch(async (err) => {
  process.stderr.write(`profile: ${err?.stack ?? err}\n`);
  await cleanupAll();
  process.exit(1);
});
