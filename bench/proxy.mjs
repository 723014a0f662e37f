// Starts mail-guard (`node PROJECT_DIR/dist/cli/main.js serve -c FILE`) as a
// child with a generated config pointing at the sink, and waits for its 220
// greeting; the same for the reference forwarder (bench/bare-forwarder.mjs).
// PROJECT_DIR is this checkout, or for BENCH_BASELINE another built one: both
// get the same config, each in its own files under tmpDir.
import fs from 'node:fs';
import path from 'node:path';
import { freePort, startChild, stopChild, tailFile, waitForGreeting } from './procs.mjs';

/**
 * The bench's config: the shipped defaults but for what points at the sink,
 * split for the split scenario, and quiet logs. The upstream pool is the
 * default one (the targets are for the default config); `workers` only for the
 * workers mode (absent = the default, 1); `content` (policy.content, e.g.
 * { maxAddresses: 20 }) only for the content mode (absent = off, the default).
 */
export function proxyConfigYaml({ smtpPort, adminPort, sinkPort, storePath, workers, content }) {
  const contentPolicy = content
    ? `, content: { ${Object.entries(content)
        .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
        .join(', ')} }`
    : '';
  return [
    ...(workers ? [`workers: ${workers}`] : []),
    `smtp: { host: 127.0.0.1, port: ${smtpPort}, maxRecipients: 1000, maxMessageBytes: 52428800 }`,
    `admin: { host: 127.0.0.1, port: ${adminPort} }`,
    `upstream: { host: 127.0.0.1, port: ${sinkPort}, secure: false, requireTLS: false }`,
    'internalDomains: [example.co.jp]',
    `policy: { action: split, maxVisibleExternal: 1${contentPolicy} }`,
    `store: { type: file, path: ${JSON.stringify(storePath)} }`,
    'log: { level: warn }',
    '',
  ].join('\n');
}

/**
 * Starts `projectDir`'s mail-guard. `name` tells two of them apart: it names
 * the child, the files under tmpDir and the log headings ('mail-guard' for
 * this checkout, 'baseline' for BENCH_BASELINE).
 * Returns { ok: true, pid, port, entry, stop(), alive(), logs() } or
 * { ok: false, reason, logs }.
 */
export async function startProxy({ projectDir, tmpDir, sinkPort, name = 'mail-guard', workers, content, startTimeoutMs = 30000 }) {
  const main = path.join(projectDir, 'dist', 'cli', 'main.js');
  // The names this checkout's proxy always had; a second one gets its own.
  const prefix = name === 'mail-guard' ? '' : `${name}-`;
  const shown = name === 'mail-guard' ? path.relative(projectDir, main) : main;
  const outFile = path.join(tmpDir, `${prefix}proxy-stdout.txt`);
  const errFile = path.join(tmpDir, `${prefix}proxy-stderr.txt`);
  const logs = () => {
    const err = tailFile(errFile, 4000).trim();
    const out = tailFile(outFile, 2000).trim();
    return (
      [err && `--- ${name} stderr (tail) ---\n${err}`, out && `--- ${name} stdout (tail) ---\n${out}`].filter(Boolean).join('\n') || `(${name} wrote nothing)`
    );
  };
  if (!fs.existsSync(main)) {
    return { ok: false, reason: `${shown} does not exist (npm run build, or the CLI is not written yet)`, logs: () => '' };
  }
  const smtpPort = await freePort();
  const adminPort = await freePort();
  const configFile = path.join(tmpDir, `${prefix}mail-guard.yaml`);
  const storePath = path.join(tmpDir, `${prefix}store`);
  fs.mkdirSync(storePath, { recursive: true });
  fs.writeFileSync(configFile, proxyConfigYaml({ smtpPort, adminPort, sinkPort, storePath, workers, content }));

  // Output to files, not pipes: the bench process must not spend CPU on the proxy's logs.
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const env = { ...process.env };
  delete env.MAIL_GUARD_CONFIG;
  const args = [main, 'serve', '-c', configFile];
  const entry = startChild(name, process.execPath, args, { cwd: projectDir, env, stdio: ['ignore', out, err] });
  fs.closeSync(out);
  fs.closeSync(err);
  const ready = await waitForGreeting(smtpPort, { totalMs: startTimeoutMs, isDead: () => entry.exited });
  if (!ready.ok) {
    const why = entry.exited
      ? `exited (code ${entry.code}, signal ${entry.signal}) before answering`
      : `no 220 greeting on 127.0.0.1:${smtpPort} within ${startTimeoutMs} ms (${ready.error?.message})`;
    await stopChild(entry);
    return { ok: false, reason: `${name} ${why}`, logs };
  }
  return {
    ok: true,
    pid: entry.child.pid,
    port: smtpPort,
    adminPort,
    configFile,
    greeting: ready.line,
    command: `node ${shown} serve -c ${configFile}`,
    entry,
    alive: () => !entry.exited,
    stop: () => stopChild(entry, 5000),
    logs,
  };
}

/**
 * Starts the reference forwarder (bench/bare-forwarder.mjs: bare smtp-server ->
 * pooled nodemailer SMTPConnection) on its own free port against the same sink.
 * Returns { ok: true, pid, port, line, entry, stop(), alive(), logs() } or
 * { ok: false, reason, logs }.
 */
export async function startBareForwarder({ projectDir, tmpDir, sinkPort, poolSize = 20, startTimeoutMs = 20000 }) {
  const script = path.join(projectDir, 'bench', 'bare-forwarder.mjs');
  const outFile = path.join(tmpDir, 'bare-stdout.txt');
  const errFile = path.join(tmpDir, 'bare-stderr.txt');
  const logs = () => {
    const err = tailFile(errFile, 4000).trim();
    const out = tailFile(outFile, 2000).trim();
    return (
      [err && `--- bare forwarder stderr (tail) ---\n${err}`, out && `--- bare forwarder stdout (tail) ---\n${out}`].filter(Boolean).join('\n') ||
      '(bare forwarder wrote nothing)'
    );
  };
  const port = await freePort();
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const args = [script, String(port), String(sinkPort), String(poolSize)];
  const entry = startChild('bare-forwarder', process.execPath, args, { cwd: projectDir, stdio: ['ignore', out, err] });
  fs.closeSync(out);
  fs.closeSync(err);
  const ready = await waitForGreeting(port, { totalMs: startTimeoutMs, isDead: () => entry.exited });
  if (!ready.ok) {
    const why = entry.exited
      ? `exited (code ${entry.code}, signal ${entry.signal}) before answering`
      : `no 220 greeting on 127.0.0.1:${port} within ${startTimeoutMs} ms (${ready.error?.message})`;
    await stopChild(entry);
    return { ok: false, reason: `bare forwarder ${why}`, logs };
  }
  return {
    ok: true,
    pid: entry.child.pid,
    port,
    line: tailFile(outFile, 400).trim().split('\n').pop(),
    command: `node bench/bare-forwarder.mjs ${args.slice(1).join(' ')}`,
    entry,
    alive: () => !entry.exited,
    stop: () => stopChild(entry, 5000),
    logs,
  };
}
