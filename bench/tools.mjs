// The load tool and the sink: Postfix's smtp-source / smtp-sink when they are
// installed, else the Node stand-ins (bench/load.mjs, bench/sink.mjs).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELO, RECIPIENT, SENDER, splitSubject } from './messages.mjs';
import { startChild, stopChild, sleep, tailFile, waitForGreeting } from './procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function which(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/lib/postfix/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  return null;
}

/** { source, sink } paths, or null when either is missing. */
export function findPostfixTools() {
  const source = which('smtp-source');
  const sink = which('smtp-sink');
  return source && sink ? { source, sink } : null;
}

export const INSTALL_HINT = [
  "Postfix's smtp-source and smtp-sink were not found (PATH, /usr/sbin).",
  'They are the reference load and relay of issue 2. To get them on Debian/Ubuntu (tools only):',
  '    sudo apt-get install postfix        # choose "No configuration"',
  '    sudo systemctl disable --now postfix   # the daemon is not needed (in a container: just do not start it)',
  'Nothing was installed. Falling back to the Node load generator and Node sink:',
  "ratios stay side by side, absolute numbers are not comparable with the issue's.",
].join('\n');

/**
 * Starts the sink on 127.0.0.1:port. Its running counter goes to a file
 * (on /dev/shm when there is one: nothing on disk, and the bench process does
 * not read a pipe per message), read only between runs.
 */
export async function startSink({ postfix, port, counterDir }) {
  const counterFile = path.join(counterDir, 'sink-counter.txt');
  const errFile = path.join(counterDir, 'sink-stderr.txt');
  const out = fs.openSync(counterFile, 'w');
  const err = fs.openSync(errFile, 'w');
  let entry;
  let label;
  if (postfix) {
    // -c: running counters on stdout (our message count); no -d/-D: nothing is dumped to disk.
    // -u nobody: required when started as root (it drops privileges after binding).
    // backlog 1000: one-connection-per-message runs open connections quickly.
    const args = ['-c'];
    if (process.getuid?.() === 0) args.push('-u', 'nobody');
    args.push('-h', 'bench-sink', `127.0.0.1:${port}`, '1000');
    entry = startChild('smtp-sink', postfix.sink, args, { stdio: ['ignore', out, err] });
    label = `${postfix.sink} ${args.join(' ')}`;
  } else {
    entry = startChild('node-sink', process.execPath, [path.join(here, 'sink.mjs'), String(port)], { stdio: ['ignore', out, err] });
    label = `node bench/sink.mjs ${port}`;
  }
  fs.closeSync(out);
  fs.closeSync(err);
  const ready = await waitForGreeting(port, { totalMs: 10000, isDead: () => entry.exited });
  if (!ready.ok) {
    await stopChild(entry);
    throw new Error(`sink did not start (${label}): ${ready.error?.message}\n${tailFile(errFile)}`);
  }
  return {
    entry,
    port,
    label,
    pid: entry.child.pid,
    /** Messages (transactions) received so far, from the last complete counter record. */
    messages() {
      const text = tailFile(counterFile, 256);
      const records = text.split(/[\r\n]+/).filter((r) => /mesg=\d+/.test(r));
      const last = records[records.length - 1];
      return last ? Number(last.match(/mesg=(\d+)/)[1]) : 0;
    },
    /** Waits until the count has not moved for quietMs (bounded by maxMs); returns it. */
    async settle(quietMs = 250, maxMs = 10000) {
      const deadline = Date.now() + maxMs;
      let last = this.messages();
      let since = Date.now();
      while (Date.now() < deadline) {
        await sleep(50);
        const now = this.messages();
        if (now !== last) {
          last = now;
          since = Date.now();
        } else if (Date.now() - since >= quietMs) break;
      }
      return last;
    },
    stderr: () => tailFile(errFile),
  };
}

/**
 * smtp-source arguments for a scenario. Flags (postfix 3.x, see man smtp-source):
 *  -s N   parallel sessions;  -m N  messages in total (over all sessions);
 *  -l N   payload bytes (plus smtp-source's own From/To/Date/Message-Id headers);
 *  -d     keep the connection and send the next message on it (the default is
 *         one connection per message: connect, HELO, MAIL, RCPT, DATA, QUIT);
 *  -r N   recipients per transaction: u@, 2u@ … Nu@ (number prepended to -t);
 *  -S s   Subject line; its CRLFs add a Cc header (split scenario);
 *  -F f   send file f as the whole message (header and body; LF lines, sent with CRLF and
 *         dot-stuffed) instead of -l's generated one: the content scenarios;
 *  -f/-t/-M sender, base recipient, HELO name.
 */
export function sourceArgs(scenario, port, messages) {
  const args = ['-s', String(scenario.sessions), '-m', String(messages)];
  if (scenario.messageFile) args.push('-F', scenario.messageFile);
  else args.push('-l', String(scenario.size));
  if (scenario.persistent) args.push('-d');
  if (scenario.recipients > 1) args.push('-r', String(scenario.recipients));
  if (scenario.split) args.push('-S', splitSubject(scenario.recipients));
  args.push('-f', SENDER, '-t', RECIPIENT, '-M', HELO, `127.0.0.1:${port}`);
  return args;
}

/**
 * One smtp-source run, bounded by timeoutMs (then SIGTERM). Returns
 * { elapsedMs, code, timedOut, stderr }.
 */
export async function runSmtpSource(sourcePath, args, timeoutMs, onKill) {
  const chunks = [];
  const started = process.hrtime.bigint();
  const entry = startChild('smtp-source', sourcePath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  entry.child.stderr.on('data', (chunk) => {
    if (chunks.length < 64) chunks.push(chunk);
  });
  let timedOut = false;
  let killedAt = null;
  const timer = setTimeout(() => {
    timedOut = true;
    killedAt = process.hrtime.bigint();
    onKill?.();
    entry.child.kill('SIGTERM');
  }, timeoutMs);
  const { code, signal, error } = await entry.exitPromise;
  clearTimeout(timer);
  const ended = killedAt ?? process.hrtime.bigint();
  return {
    elapsedMs: Number(ended - started) / 1e6,
    code: error ? -1 : code,
    signal,
    timedOut,
    stderr: (error ? String(error.message) + '\n' : '') + Buffer.concat(chunks).toString('utf8').slice(0, 2000),
  };
}

/** One run of the Node load generator as a child (its CPU is not ours). */
export async function runNodeLoad(options, hardTimeoutMs) {
  const out = [];
  const err = [];
  const entry = startChild('node-load', process.execPath, [path.join(here, 'load.mjs'), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  entry.child.stdout.on('data', (c) => out.push(c));
  entry.child.stderr.on('data', (c) => {
    if (err.length < 64) err.push(c);
  });
  const timer = setTimeout(() => entry.child.kill('SIGKILL'), hardTimeoutMs);
  const { code } = await entry.exitPromise;
  clearTimeout(timer);
  const text = Buffer.concat(out).toString('utf8').trim();
  try {
    return { ...JSON.parse(text.split('\n').pop()), code };
  } catch {
    return { ok: 0, failed: 0, elapsedMs: 0, rate: 0, latency: {}, errors: [], code, stderr: Buffer.concat(err).toString('utf8').slice(0, 2000) };
  }
}
