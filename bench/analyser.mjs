// Loads PROJECT_DIR/dist/analysis/index.js for the analysis micro-benchmarks,
// whichever version it is: BENCH_BASELINE runs them on an older checkout too.
// The analyser's calling convention changed:
//   old: analyse(message: Buffer, envelope), throws an error carrying `.reply` on refusal;
//   new: analyse({ head: Buffer, rest: Buffer[] }, envelope), never throws,
//        returns { findings: [...], exposure }, a refusal is a finding.
// One probe call on a small clean message tells which; the timed loops then
// call that shape directly, so no detection is timed.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const PROBE = Buffer.from('From: <probe@example.co.jp>\r\nTo: <probe@x.example>\r\n\r\nprobe\r\n', 'latin1');
const PROBE_ENVELOPE = { mailFrom: 'probe@example.co.jp', rcptTo: ['probe@x.example'] };

const sensible = (value) => value !== null && typeof value === 'object' && value.exposure !== null && typeof value.exposure === 'object';

/**
 * Returns { ok: true, shape: 'head+rest' | 'buffer', analyse, input(raw) } or
 * { ok: false, reason }. `input(raw)` wraps a whole CRLF message (≤ 256 KB, so
 * all of it is the head, as the proxy would pass it) the way `analyse` wants it.
 */
/** The analysis options both micro-benchmarks use: one internal domain, the default budget and header limit. */
export const BENCH_ANALYSIS_OPTIONS = Object.freeze({
  internalDomains: ['example.co.jp'],
  freemailDomains: [],
  maxAddresses: 10000,
  maxHeaderBytes: 1048576,
});

export async function loadAnalyser(projectDir, options) {
  const file = path.join(projectDir, 'dist', 'analysis', 'index.js');
  if (!fs.existsSync(file)) return { ok: false, reason: `${path.relative(projectDir, file) || file} does not exist` };
  const mod = await import(pathToFileURL(file).href);
  if (typeof mod.createAnalyser !== 'function') return { ok: false, reason: 'dist/analysis/index.js exports no createAnalyser' };
  const analyse = mod.createAnalyser(options);

  const shapes = [
    { shape: 'head+rest', input: (raw) => ({ head: raw, rest: [] }) },
    { shape: 'buffer', input: (raw) => raw },
  ];
  const tried = [];
  for (const { shape, input } of shapes) {
    try {
      const value = await analyse(input(PROBE), PROBE_ENVELOPE);
      if (sensible(value)) return { ok: true, shape, analyse, input };
      tried.push(`${shape}: returned ${value === null ? 'null' : typeof value} without an exposure report`);
    } catch (error) {
      // The old analyser handed an object fails with a TypeError; the new one
      // handed a Buffer too. Anything else is noted and the next shape tried.
      tried.push(`${shape}: threw ${error?.name ?? 'error'}: ${String(error?.message ?? error).slice(0, 120)}`);
    }
  }
  return { ok: false, reason: `the analyser takes neither calling convention (${tried.join('; ')})` };
}

/** One call, timed by the caller: { value } or { thrown: true, error }. */
export async function analyseOnce(analyser, input, envelope) {
  try {
    return { value: await analyser.analyse(input, envelope) };
  } catch (error) {
    return { thrown: true, error };
  }
}

/**
 * What an analysis came to, for the report: a thrown refusal (old), or a
 * report with its findings (new; none in the old version) and whether the
 * address budget cut it short.
 */
export function describe(outcome) {
  if (outcome.thrown) {
    const r = outcome.error?.reply;
    return r
      ? { kind: 'reject', reply: `${r.code} ${r.enhanced} ${r.text}` }
      : { kind: 'error', error: String(outcome.error?.stack ?? outcome.error).slice(0, 500) };
  }
  // MessageAnalysis { findings?, exposure: ExposureReport, … } — or a bare ExposureReport.
  const value = outcome.value ?? {};
  const v = value.exposure ?? value;
  return {
    kind: 'report',
    truncated: v.truncated,
    addressesSeen: v.addressesSeen,
    visibleExternalCount: v.visibleExternalCount,
    findings: Array.isArray(value.findings) ? value.findings.map(findingText) : null,
  };
}

// 'address-budget (max 10000)': the kind, then the finding's own facts.
function findingText(finding) {
  const facts = Object.entries(finding ?? {})
    .filter(([key]) => key !== 'kind')
    .map(([key, value]) => `${key} ${value}`);
  return `${finding?.kind ?? 'unknown'}${facts.length ? ` (${facts.join(', ')})` : ''}`;
}
