// Reads CPU time and memory of a process (and the host) from /proc.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let clkTck = null;
/** Clock ticks per second (`getconf CLK_TCK`, 100 when it cannot be read). */
export function clockTicks() {
  if (clkTck === null) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

function statFields(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // "pid (comm) state ppid …": comm may hold spaces and parentheses.
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** Pids of `pid` and all its descendants (threads are already in the process's own counters). */
export function processTree(pid) {
  const parentOf = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      parentOf.set(Number(name), Number(statFields(name)[1]));
    } catch {
      /* gone */
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length && i < 1000; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** utime+stime of a process tree in ms (null when the process is gone). */
export function cpuMs(pid) {
  try {
    let ticks = 0;
    for (const p of processTree(pid)) {
      try {
        const f = statFields(p);
        ticks += Number(f[11]) + Number(f[12]); // fields 14 and 15: utime, stime
      } catch {
        /* exited meanwhile */
      }
    }
    return (ticks * 1000) / clockTicks();
  } catch {
    return null;
  }
}

function statusKb(pid, key) {
  try {
    const match = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Resident set of one process or of several (a mail-guard with workers: the
 * primary and its workers, from processTree at the start of a run), bytes:
 * the sum of each one's VmRSS. Null when none could be read.
 */
export const rssBytes = (pids) => sumKb(pids, 'VmRSS');
/**
 * Peak resident set since start or since the last resetPeakRss, bytes. For
 * several processes the sum of their own peaks: an upper bound of the peak of
 * their sum (they need not peak at the same moment).
 */
export const peakRssBytes = (pids) => sumKb(pids, 'VmHWM');

function sumKb(pids, key) {
  let total = null;
  for (const pid of [pids].flat()) {
    const kb = statusKb(pid, key);
    if (kb !== null) total = (total ?? 0) + kb * 1024;
  }
  return total;
}

/** Resets VmHWM to the current RSS (write "5" to clear_refs) of every pid; false when not allowed for one. */
export function resetPeakRss(pids) {
  try {
    for (const pid of [pids].flat()) fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Samples the summed VmRSS of `pids` every intervalMs: the fallback peak when
 * VmHWM cannot be reset, and a cross-check when it can. Returns { stop(): maxBytes }.
 */
export function sampleRss(pids, intervalMs = 50) {
  let max = rssBytes(pids) ?? 0;
  const timer = setInterval(() => {
    const now = rssBytes(pids);
    if (now !== null && now > max) max = now;
  }, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      const now = rssBytes(pids);
      return Math.max(max, now ?? 0);
    },
  };
}

/** Host CPU counters ("cpu" line of /proc/stat), for busy % over an interval. */
export function hostCpu() {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
    const total = values.slice(0, 8).reduce((a, b) => a + b, 0); // without guest (already in user)
    return { idle, total };
  } catch {
    return null;
  }
}

/** Busy share of all cores between two hostCpu() readings, 0..1. */
export function busyShare(before, after) {
  if (!before || !after) return null;
  const total = after.total - before.total;
  return total > 0 ? 1 - (after.idle - before.idle) / total : null;
}
