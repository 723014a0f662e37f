// Child processes, temp dirs and sockets for the bench: every child is
// registered here and ended by its own pid on exit, error or signal; every
// wait is bounded in time.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

const children = new Set(); // { child, name }
const tempDirs = new Set();

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Spawns a registered child. `stdio` as in child_process.spawn. */
export function startChild(name, command, args, options = {}) {
  const child = spawn(command, args, { ...options, detached: false });
  const entry = { child, name, exited: false, code: null, signal: null };
  entry.exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      entry.exited = true;
      entry.code = code;
      entry.signal = signal;
      children.delete(entry);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      entry.exited = true;
      entry.error = error;
      children.delete(entry);
      resolve({ code: null, signal: null, error });
    });
  });
  children.add(entry);
  return entry;
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the child is gone (bounded). */
export async function stopChild(entry, graceMs = 3000) {
  if (!entry || entry.exited || entry.child.pid === undefined) return;
  try {
    entry.child.kill('SIGTERM');
  } catch {
    /* already gone */
  }
  const gone = await Promise.race([entry.exitPromise.then(() => true), sleep(graceMs).then(() => false)]);
  if (!gone) {
    try {
      entry.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    await Promise.race([entry.exitPromise, sleep(2000)]);
  }
}

export function registerTempDir(dir) {
  tempDirs.add(dir);
  return dir;
}

/** Graceful: used on the normal path and from signal handlers. */
export async function cleanupAll() {
  await Promise.all([...children].map((entry) => stopChild(entry)));
  removeTempDirs();
}

function removeTempDirs() {
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
    tempDirs.delete(dir);
  }
}

/** Last resort (process 'exit' handler: synchronous only). */
function killAllSync() {
  for (const entry of children) {
    try {
      entry.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  removeTempDirs();
}

let handlersInstalled = false;
export function installCleanupHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllSync);
  let stopping = false;
  const onSignal = (signal, code) => {
    if (stopping) {
      killAllSync();
      process.exit(code);
    }
    stopping = true;
    process.stderr.write(`\nbench: ${signal}, stopping children and removing temp files…\n`);
    cleanupAll().finally(() => process.exit(code));
  };
  process.on('SIGINT', () => onSignal('SIGINT', 130));
  process.on('SIGTERM', () => onSignal('SIGTERM', 143));
  process.on('SIGHUP', () => onSignal('SIGHUP', 129));
  const onFatal = (error) => {
    process.stderr.write(`bench: fatal: ${error?.stack ?? error}\n`);
    cleanupAll().finally(() => process.exit(1));
  };
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);
}

/** A free TCP port on 127.0.0.1 (bind to 0, read, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** One attempt: connect, read until a full reply line, return it (or throw). */
function readGreeting(port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let buffer = '';
    const done = (error, line) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(line);
    };
    const timer = setTimeout(() => done(new Error('no greeting within ' + timeoutMs + ' ms')), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
      buffer += chunk;
      // A multi-line greeting ends with "220 " (space after the code).
      const lines = buffer.split('\r\n');
      for (const line of lines.slice(0, -1)) {
        if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
          socket.end('QUIT\r\n');
          return done(null, line);
        }
      }
      if (buffer.length > 4096) done(new Error('greeting too long'));
    });
    socket.on('error', (error) => done(error));
    socket.on('close', () => done(new Error('closed before greeting')));
  });
}

/**
 * Polls until the port answers a 220 greeting; bounded by totalMs.
 * `isDead()` lets the caller stop early when the server process has exited.
 */
export async function waitForGreeting(port, { totalMs = 20000, isDead = () => false } = {}) {
  const deadline = Date.now() + totalMs;
  let lastError = null;
  for (let attempt = 0; attempt < 400 && Date.now() < deadline; attempt++) {
    if (isDead()) return { ok: false, error: lastError ?? new Error('process exited') };
    try {
      const line = await readGreeting(port, Math.min(3000, Math.max(200, deadline - Date.now())));
      if (line.startsWith('220')) return { ok: true, line };
      lastError = new Error('unexpected greeting: ' + line);
    } catch (error) {
      lastError = error;
    }
    await sleep(100);
  }
  return { ok: false, error: lastError ?? new Error('timeout') };
}

/** The last `bytes` of a file as text ('' when missing). */
export function tailFile(path, bytes = 4096) {
  try {
    const fd = fs.openSync(path, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(bytes, size);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}
