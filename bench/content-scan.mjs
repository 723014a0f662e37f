#!/usr/bin/env node
// The per-message cost of the content scan (issue 14), in its own process:
// createContentScanner from PROJECT_DIR/dist/analysis/content on the three
// messages of the content scenarios (bench/content-messages.mjs), against the
// header analysis every message pays anyway, on the same input. The message is
// assembled as the proxy assembles it (dist/message/message-bytes.js, 64 KB
// chunks), the options are policy.content { maxAddresses: 20 } with the
// default limits. Every call is warmed up first (JIT: 300 ms of each, all three
// messages, before anything is timed), then each measure is time-boxed (SCALE ×
// 1 s in 5 batches), so the 5 MB message gets as fair a count as the 5 KB one.
// Prints one JSON line:
// { ok, messages: [{ kind, bytes, calls, analysisUs, scanUs, outcome | error }], reason? }.
//
//   node bench/content-scan.mjs PROJECT_DIR [SCALE]
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { BENCH_ANALYSIS_OPTIONS, loadAnalyser } from './analyser.mjs';
import { CONTENT_MAX_ADDRESSES, contentMessage } from './content-messages.mjs';
import { RECIPIENT, SENDER } from './messages.mjs';
import { reportFromChild } from './child-result.mjs';

const projectDir = process.argv[2] ?? process.cwd();
const scale = Math.min(20, Math.max(0.05, Number(process.argv[3] ?? 1) || 1));
const BATCHES = 5;
const WARM_MS = 300;
const CHUNK = 64 * 1024;
const DEFAULT_LIMITS = { maxParts: 500, maxDepth: 10, maxDecodedBytes: 32 * 1024 * 1024, maxCells: 1_000_000, maxScanMs: 2000 };

const load = async (relative) => {
  const file = path.join(projectDir, 'dist', relative);
  return fs.existsSync(file) ? import(pathToFileURL(file).href) : null;
};

/** Calls `fn` in batches of doubling size until `ms` have passed; returns { calls, us per call }. */
function timeBoxed(fn, ms) {
  let calls = 0;
  let n = 1;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < n; i++) fn();
    calls += n;
    n = Math.min(n * 2, 4096);
  }
  return { calls, us: ((performance.now() - t0) * 1000) / calls };
}

function measure(fn) {
  const batches = Array.from({ length: BATCHES }, () => timeBoxed(fn, (1000 * scale) / BATCHES));
  const calls = batches.reduce((n, b) => n + b.calls, 0);
  return { calls, us: batches.reduce((sum, b) => sum + b.us * b.calls, 0) / calls };
}

function outcomeOf(report) {
  if (!report || typeof report !== 'object') return { kind: typeof report };
  if (report.scanned === false) return { scanned: false, atMost: report.atMost };
  return {
    scanned: true,
    externalCount: report.externalCount,
    locations: report.locations?.length ?? null,
    uninspected: report.uninspected?.length ?? null,
    bound: report.bound ? `${report.bound.kind} (${report.bound.limit})` : null,
  };
}

async function main() {
  const analyser = await loadAnalyser(projectDir, BENCH_ANALYSIS_OPTIONS);
  if (!analyser.ok) return { ok: false, reason: analyser.reason };
  const scanModule = await load('analysis/content/content-scan.js');
  if (typeof scanModule?.createContentScanner !== 'function')
    return { ok: false, reason: 'dist/analysis/content/content-scan.js exports no createContentScanner' };
  const bytesModule = await load('message/message-bytes.js');
  const schema = await load('config/content-schema.js');
  const limits = schema?.contentLimits?.parse?.({}) ?? DEFAULT_LIMITS;
  const scan = scanModule.createContentScanner({
    internalDomains: BENCH_ANALYSIS_OPTIONS.internalDomains,
    skipAtOrBelow: CONTENT_MAX_ADDRESSES,
    limits,
    now: () => performance.now(),
  });
  const envelope = { mailFrom: SENDER, rcptTo: [RECIPIENT] };

  const prepared = ['text', 'csv', 'pdf'].map((kind) => {
    const raw = contentMessage(kind);
    const chunks = [];
    for (let at = 0; at < raw.length; at += CHUNK) chunks.push(raw.subarray(at, at + CHUNK));
    const input = bytesModule?.assembleMessage ? bytesModule.assembleMessage(chunks, BENCH_ANALYSIS_OPTIONS.maxHeaderBytes) : analyser.input(raw);
    return { kind, bytes: raw.length, input, header: analyser.analyse(input, envelope).header };
  });
  let sink = 0; // used after the loops, so no call can be dropped as dead code
  const analyse =
    ({ input }) =>
    () => {
      sink += analyser.analyse(input, envelope).exposure.visibleExternalCount;
    };
  const scanOf =
    ({ input, header }) =>
    () => {
      const report = scan(input, header, envelope);
      sink += report.scanned ? report.externalCount : report.atMost;
    };
  const errors = new Map();
  for (const message of prepared) {
    timeBoxed(analyse(message), WARM_MS);
    try {
      timeBoxed(scanOf(message), WARM_MS);
    } catch (error) {
      errors.set(message.kind, String(error?.message ?? error).slice(0, 200));
    }
  }
  const messages = prepared.map((message) => {
    const entry = { kind: message.kind, bytes: message.bytes, analysisUs: measure(analyse(message)).us };
    if (errors.has(message.kind)) return { ...entry, error: errors.get(message.kind) };
    const scanned = measure(scanOf(message));
    return { ...entry, calls: scanned.calls, scanUs: scanned.us, outcome: outcomeOf(scan(message.input, message.header, envelope)) };
  });
  const failed = messages.find((m) => m.error);
  return { ok: !failed, messages, checksum: sink, ...(failed ? { reason: `the scan threw on the ${failed.kind} message: ${failed.error}` } : {}) };
}

reportFromChild(main, 120);
