#!/usr/bin/env node
// Scenario 5, in its own process: the analyser from PROJECT_DIR/dist/analysis
// on one header block whose To lists 50,000 addresses. Prints one JSON line:
// { ok, shape, headerBytes, addresses, coldMs, warmMs: [...], outcome } or { ok: false, reason }.
// A bounded reject is either a thrown error carrying `.reply` {code, enhanced, text}
// (older versions) or a report with `truncated: true` and, in newer versions,
// an address-budget finding (the policy then refuses the message). `shape` is
// the calling convention found (bench/analyser.mjs): PROJECT_DIR may be an
// older checkout (BENCH_BASELINE).
//
//   node bench/analysis.mjs PROJECT_DIR [ADDRESSES] [RUNS]
import { performance } from 'node:perf_hooks';
import { analyseOnce, BENCH_ANALYSIS_OPTIONS, describe, loadAnalyser } from './analyser.mjs';
import { reportFromChild } from './child-result.mjs';

const projectDir = process.argv[2] ?? process.cwd();
const count = Number(process.argv[3] ?? 50000);
const runs = Math.max(1, Math.min(50, Number(process.argv[4] ?? 5)));

function message(n) {
  const lines = ['From: <sender@example.co.jp>'];
  const addresses = [];
  for (let i = 0; i < n; i++) addresses.push(`a${i}@x${i % 97}.example`);
  // Folded: 8 addresses a line, as a mail merge would write them.
  const folded = [];
  for (let i = 0; i < addresses.length; i += 8) folded.push(addresses.slice(i, i + 8).join(', '));
  lines.push('To: ' + folded.join(',\r\n '));
  lines.push('Subject: 50k', 'Date: Sun, 29 Nov 2026 08:00:00 +0000', 'Message-ID: <bench-50k@example.co.jp>', '', 'body', '');
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

async function main() {
  const analyser = await loadAnalyser(projectDir, BENCH_ANALYSIS_OPTIONS);
  if (!analyser.ok) return analyser;
  const raw = message(count);
  const input = analyser.input(raw);
  const headerBytes = raw.indexOf('\r\n\r\n') + 4;
  const envelope = { mailFrom: 'sender@example.co.jp', rcptTo: ['a0@x0.example'] };
  const once = async () => {
    const t0 = performance.now();
    const outcome = await analyseOnce(analyser, input, envelope);
    return { ms: performance.now() - t0, outcome };
  };
  const cold = await once();
  const warm = [];
  for (let i = 0; i < runs; i++) warm.push((await once()).ms);
  return { ok: true, shape: analyser.shape, headerBytes, addresses: count, coldMs: cold.ms, warmMs: warm, outcome: describe(cold.outcome) };
}

reportFromChild(main, 60);
