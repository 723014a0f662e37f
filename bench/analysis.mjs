#!/usr/bin/env node
// Scenario 5, in its own process: the analyser from dist/analysis/index.js on
// one header block whose To lists 50,000 addresses. Prints one JSON line:
// { ok, headerBytes, addresses, coldMs, warmMs: [...], outcome } or { ok: false, reason }.
// A bounded reject is either a thrown error carrying `.reply` {code, enhanced, text}
// or a report with `truncated: true` (the policy then refuses the message).
//
//   node bench/analysis.mjs PROJECT_DIR [ADDRESSES] [RUNS]
import path from 'node:path';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

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

function describe(outcome) {
  if (outcome.thrown) {
    const r = outcome.error?.reply;
    return r ? { kind: 'reject', reply: `${r.code} ${r.enhanced} ${r.text}` }
      : { kind: 'error', error: String(outcome.error?.stack ?? outcome.error).slice(0, 500) };
  }
  // MessageAnalysis { exposure: ExposureReport, … } — or a bare ExposureReport.
  const v = outcome.value?.exposure ?? outcome.value ?? {};
  return {
    kind: 'report',
    truncated: v.truncated,
    addressesSeen: v.addressesSeen,
    visibleExternalCount: v.visibleExternalCount,
  };
}

async function main() {
  const file = path.join(projectDir, 'dist', 'analysis', 'index.js');
  if (!fs.existsSync(file)) return { ok: false, reason: `${path.relative(projectDir, file)} does not exist` };
  const mod = await import(pathToFileURL(file).href);
  if (typeof mod.createAnalyser !== 'function') return { ok: false, reason: 'dist/analysis/index.js exports no createAnalyser' };
  const analyse = mod.createAnalyser({
    internalDomains: ['example.co.jp'],
    freemailDomains: [],
    maxAddresses: 10000,
    maxHeaderBytes: 1048576,
  });
  const raw = message(count);
  const headerBytes = raw.indexOf('\r\n\r\n') + 4;
  const envelope = { mailFrom: 'sender@example.co.jp', rcptTo: ['a0@x0.example'] };
  const once = async () => {
    const t0 = performance.now();
    let outcome;
    try {
      outcome = { value: await analyse(raw, envelope) };
    } catch (error) {
      outcome = { thrown: true, error };
    }
    return { ms: performance.now() - t0, outcome };
  };
  const cold = await once();
  const warm = [];
  for (let i = 0; i < runs; i++) warm.push((await once()).ms);
  return { ok: true, headerBytes, addresses: count, coldMs: cold.ms, warmMs: warm, outcome: describe(cold.outcome) };
}

const hardStop = setTimeout(() => {
  process.stdout.write(JSON.stringify({ ok: false, reason: 'did not finish within 60 s' }) + '\n');
  process.exit(3);
}, 60000);
hardStop.unref();
main().then(
  (result) => { process.stdout.write(JSON.stringify(result) + '\n'); process.exit(0); },
  (error) => { process.stdout.write(JSON.stringify({ ok: false, reason: String(error?.stack ?? error).slice(0, 1000) }) + '\n'); process.exit(0); },
);
