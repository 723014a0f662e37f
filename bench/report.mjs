// Summaries, the side-by-side table and the targets of issues 2 and 13 (PASS/MISS, never an assertion).

const MB = 1024 * 1024;
const fmt = (value, digits = 0) =>
  value === null || value === undefined || Number.isNaN(value)
    ? '—'
    : Number(value).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (value) => (value === null || value === undefined || !Number.isFinite(value) ? '—' : `${value.toFixed(2)}×`);

export function table(headers, rows, align) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const cell = (text, i) => (align?.[i] === 'l' ? String(text).padEnd(widths[i]) : String(text).padStart(widths[i]));
  const line = (r) =>
    r
      .map((c, i) => cell(c ?? '', i))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The throughput number a run is ranked by: copies/s for proxied split, else msgs/s. */
export const score = (run) => run.copiesPerSec ?? run.msgsPerSec ?? 0;

/** Best (fastest) run of a list: on a noisy shared machine noise only slows a run down. */
export function best(runs) {
  const ok = runs.filter((r) => r && !r.failed && score(r) > 0);
  return ok.length ? ok.reduce((a, b) => (score(b) > score(a) ? b : a)) : null;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length ? (sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2) : null;
}

const msgsPerSec = (run) => run.msgsPerSec;

/**
 * msgs/s (or `value` of a run) of `top` over `bottom`, round by round (both
 * runs of a pair ran in the same round, one right after the other or with
 * another mode in between, so both saw the same machine; best-of-each-mode
 * mixes different rounds).
 * Returns { ratio: median of the rounds (best-of when no pair), bestOfRatio, perRound }.
 */
function pairedRatio(topRuns, bottomRuns, value = msgsPerSec) {
  const perRound = [];
  for (const b of bottomRuns) {
    const t = topRuns.find((x) => x.round === b.round);
    if (t && !t.failed && !b.failed && value(b) && Number.isFinite(value(t))) perRound.push(value(t) / value(b));
  }
  const bt = best(topRuns);
  const bb = best(bottomRuns);
  const bestOfRatio = bt && bb && value(bb) && Number.isFinite(value(bt)) ? value(bt) / value(bb) : null;
  return { ratio: median(perRound) ?? bestOfRatio, bestOfRatio, perRound };
}

export function summarise(scenarios, runs, latency) {
  return scenarios.map((s) => {
    const of = (mode) => runs.filter((r) => r.scenario === s.id && r.mode === mode);
    const direct = of('direct');
    const proxied = of('proxied');
    const bare = of('bare');
    const baseline = of('baseline');
    const workers = of('workers');
    const content = of('content');
    const vsDirect = pairedRatio(proxied, direct);
    return {
      scenario: s,
      direct: best(direct),
      proxied: best(proxied),
      // Judged on the median of the per-round pairs.
      ratio: vsDirect.ratio,
      bestOfRatio: vsDirect.bestOfRatio,
      perRound: vsDirect.perRound,
      // The reference forwarder (only where it ran): bare/direct and mail-guard/bare.
      bare: bare.length ? best(bare) : null,
      bareRan: bare.length > 0,
      bareVsDirect: bare.length ? pairedRatio(bare, direct) : null,
      guardVsBare: bare.length ? pairedRatio(proxied, bare) : null,
      // BENCH_BASELINE's mail-guard (only where it ran): baseline/direct and
      // mail-guard/baseline in msgs/s, copies/s (split) and CPU ms/msg.
      baseline: baseline.length ? best(baseline) : null,
      baselineRan: baseline.length > 0,
      baselineVsDirect: baseline.length ? pairedRatio(baseline, direct) : null,
      guardVsBaseline: baseline.length
        ? {
            msgs: pairedRatio(proxied, baseline),
            copies: s.split ? pairedRatio(proxied, baseline, (r) => r.copiesPerSec) : null,
            cpu: pairedRatio(proxied, baseline, (r) => r.cpuMsPerMsg),
          }
        : null,
      // This checkout with workers: N (only where it ran): against direct, and N against 1 in msgs/s and CPU ms/msg.
      workers: workers.length ? best(workers) : null,
      workersRan: workers.length > 0,
      workersVsDirect: workers.length ? pairedRatio(workers, direct) : null,
      workersVsOne: workers.length ? { msgs: pairedRatio(workers, proxied), cpu: pairedRatio(workers, proxied, (r) => r.cpuMsPerMsg) } : null,
      // This checkout with policy.content on (the content scenarios only): against direct, and on against off (proxied).
      content: content.length ? best(content) : null,
      contentRan: content.length > 0,
      contentVsDirect: content.length ? pairedRatio(content, direct) : null,
      contentVsOff: content.length
        ? {
            msgs: pairedRatio(content, proxied),
            cpu: pairedRatio(content, proxied, (r) => r.cpuMsPerMsg),
            rss: pairedRatio(content, proxied, (r) => r.peakRss),
          }
        : null,
      latency: {
        direct: latency?.[s.id]?.direct ?? null,
        proxied: latency?.[s.id]?.proxied ?? null,
        bare: latency?.[s.id]?.bare ?? null,
        baseline: latency?.[s.id]?.baseline ?? null,
        workers: latency?.[s.id]?.workers ?? null,
        content: latency?.[s.id]?.content ?? null,
      },
    };
  });
}

const ratioCell = (r) =>
  r ? `${ratio(r.ratio)}${r.perRound.length > 1 ? ` (rounds ${r.perRound.map((x) => x.toFixed(2)).join(', ')}; best-of ${ratio(r.bestOfRatio)})` : ''}` : '';

export function mainTable(summary) {
  const rows = [];
  const anyBare = summary.some((s) => s.bareRan);
  for (const s of summary) {
    const { scenario, direct, proxied, bare, baseline, workers, content, latency } = s;
    const row = (mode, run, lat, vsDirect, vsBare) => [
      mode === 'direct' ? scenario.title : '',
      mode,
      fmt(run?.msgsPerSec),
      run?.copiesPerSec !== undefined && run?.copiesPerSec !== null ? fmt(run.copiesPerSec) : '',
      fmt(lat?.latency?.p50, 1),
      fmt(lat?.latency?.p99, 1),
      mode !== 'direct' ? fmt(run?.cpuMsPerMsg, 3) : '',
      mode !== 'direct' ? fmt(run?.peakRss !== undefined && run?.peakRss !== null ? run.peakRss / MB : null, 1) : '',
      run?.busy !== null && run?.busy !== undefined ? `${Math.round(run.busy * 100)}%` : '—',
      ratioCell(vsDirect),
      ...(anyBare ? [ratioCell(vsBare)] : []),
    ];
    rows.push(row('direct', direct, latency.direct, null, null));
    rows.push(row('proxied', proxied, latency.proxied, { ratio: s.ratio, bestOfRatio: s.bestOfRatio, perRound: s.perRound }, s.guardVsBare));
    if (s.bareRan) rows.push(row('bare', bare, latency.bare, s.bareVsDirect, null));
    if (s.baselineRan) rows.push(row('baseline', baseline, latency.baseline, s.baselineVsDirect, null));
    if (s.workersRan) rows.push(row('workers', workers, latency.workers, s.workersVsDirect, null));
    if (s.contentRan) rows.push(row('content', content, latency.content, s.contentVsDirect, null));
  }
  const vsDirectHeading = 'each mode / direct: median of rounds';
  return table(
    [
      'scenario',
      'mode',
      'msgs/s',
      'copies/s',
      'p50 ms',
      'p99 ms',
      'CPU ms/msg',
      'peak RSS MB',
      'host busy',
      vsDirectHeading,
      ...(anyBare ? ['mail-guard/bare: median of rounds'] : []),
    ],
    rows,
    ['l', 'l'],
  );
}

/** "mail-guard vs bare forwarder, …: X× (CPU ms/msg A vs B)" for every scenario the bare forwarder ran in. */
export function bareLines(summary) {
  const names = { pass: 'pass path', conn: 'one connection per message' };
  return summary
    .filter((s) => s.bareRan)
    .map(
      (s) =>
        `mail-guard vs bare forwarder, ${names[s.scenario.id] ?? s.scenario.id}: ${ratio(s.guardVsBare?.ratio)} ` +
        `(CPU ms/msg ${fmt(s.proxied?.cpuMsPerMsg, 3)} vs ${fmt(s.bare?.cpuMsPerMsg, 3)})`,
    );
}

const scenarioNames = { pass: 'pass path', conn: 'one connection per message', split: 'split' };
const roundsText = (r) =>
  `${ratio(r?.ratio)} median of rounds (rounds ${r?.perRound.length ? r.perRound.map((x) => x.toFixed(2)).join(', ') : 'none paired'}; best-of ${ratio(r?.bestOfRatio)})`;

/**
 * The before/after pairs for every scenario BENCH_BASELINE's mail-guard ran in:
 * "pass path, msgs/s: mail-guard / baseline: X× median of rounds (rounds …)", the same
 * for copies/s (split), and CPU ms/msg of both.
 */
export function baselineLines(summary) {
  const out = [];
  for (const s of summary.filter((x) => x.baselineRan)) {
    const name = scenarioNames[s.scenario.id] ?? s.scenario.id;
    const vs = s.guardVsBaseline;
    out.push(`${name}, msgs/s: mail-guard / baseline: ${roundsText(vs.msgs)}; best runs ${fmt(s.proxied?.msgsPerSec)} vs ${fmt(s.baseline?.msgsPerSec)}`);
    if (vs.copies)
      out.push(
        `${name}, copies/s: mail-guard / baseline: ${roundsText(vs.copies)}; best runs ${fmt(s.proxied?.copiesPerSec)} vs ${fmt(s.baseline?.copiesPerSec)}`,
      );
    out.push(
      `${name}, CPU ms/msg: ${fmt(s.proxied?.cpuMsPerMsg, 3)} vs ${fmt(s.baseline?.cpuMsPerMsg, 3)} (best runs); mail-guard / baseline: ${roundsText(vs.cpu)}`,
    );
  }
  return out;
}

/**
 * The analysis micro-benchmarks of this checkout and BENCH_BASELINE's, side by
 * side: `fifty` = { guard, baseline } results of bench/analysis.mjs, `perMessage`
 * = { guard: [...], baseline: [...] } results of bench/analysis-message.mjs, one per round.
 */
export function analysisPairLines({ fifty, perMessage }) {
  const out = [];
  const warm = (a) => (a?.ok ? median(a.warmMs) : null);
  if (fifty) {
    const g = warm(fifty.guard);
    const b = warm(fifty.baseline);
    out.push(
      `analysis, ${fmt(fifty.guard?.addresses ?? fifty.baseline?.addresses ?? 50000)} addresses in one To, ms (median of the warm calls; first call): ` +
        `mail-guard ${fmt(g, 1)} (${fmt(fifty.guard?.coldMs, 1)}), baseline ${fmt(b, 1)} (${fmt(fifty.baseline?.coldMs, 1)}); ` +
        `mail-guard / baseline: ${ratio(g !== null && b ? g / b : null)}`,
    );
    for (const [who, a] of [
      ['mail-guard', fifty.guard],
      ['baseline', fifty.baseline],
    ]) {
      out.push(`  ${who.padEnd(10)} ${a?.ok ? `(${a.shape}) ${outcomeText(a.outcome)}` : `not measured: ${a?.reason ?? 'unknown'}`}`);
    }
  }
  if (perMessage) {
    const ok = (list) => list.filter((r) => r.ok);
    const g = ok(perMessage.guard);
    const b = ok(perMessage.baseline);
    const bestUs = (list) => (list.length ? Math.min(...list.map((r) => r.usPerMsg)) : null);
    const perRound = [];
    for (const x of g) {
      const y = b.find((r) => r.round === x.round);
      if (y) perRound.push(x.usPerMsg / y.usPerMsg);
    }
    const bg = bestUs(g);
    const bb = bestUs(b);
    const sample = g[0] ?? b[0];
    out.push(
      `analysis per message, typical ${fmt((sample?.messageBytes ?? 5120) / 1024, 0)} KB clean message (${sample?.headerFields ?? 12} fields), ` +
        `${fmt(sample?.iterations)} calls a run, µs/msg (best of rounds): mail-guard ${fmt(bg, 2)}, baseline ${fmt(bb, 2)}; ` +
        `mail-guard / baseline: ${roundsText({ ratio: median(perRound) ?? (bg !== null && bb ? bg / bb : null), bestOfRatio: bg !== null && bb ? bg / bb : null, perRound })}`,
    );
    for (const [who, list] of [
      ['mail-guard', perMessage.guard],
      ['baseline', perMessage.baseline],
    ]) {
      const first = list.find((r) => r.ok);
      const failed = list.find((r) => !r.ok);
      out.push(
        `  ${who.padEnd(10)} ${
          first
            ? `(${first.shape}) rounds ${list
                .filter((r) => r.ok)
                .map((r) => fmt(r.usPerMsg, 2))
                .join(', ')} µs; ${outcomeText(first.outcome)}`
            : ''
        }` + `${failed ? `${first ? '; ' : ''}not measured: ${failed.reason ?? 'unknown'}` : ''}`,
      );
    }
  }
  return out;
}

export function runsTable(runs) {
  const rows = runs.map((r) => [
    r.round,
    r.scenario,
    r.mode,
    r.tool,
    fmt(r.sent),
    fmt(r.delivered),
    fmt(r.elapsedMs / 1000, 2),
    fmt(r.msgsPerSec),
    r.copiesPerSec !== undefined && r.copiesPerSec !== null ? fmt(r.copiesPerSec) : '',
    r.mode !== 'direct' ? fmt(r.cpuMsPerMsg, 3) : '',
    r.mode !== 'direct' && r.idleRss ? fmt(r.idleRss / MB, 1) : '',
    r.mode !== 'direct' ? fmt(r.peakRss ? r.peakRss / MB : null, 1) : '',
    r.busy !== null && r.busy !== undefined ? `${Math.round(r.busy * 100)}%` : '',
    [r.timedOut ? 'time cap' : '', r.note ?? ''].filter(Boolean).join('; '),
  ]);
  return table(
    ['round', 'scenario', 'mode', 'tool', 'sent', 'at sink', 'secs', 'msgs/s', 'copies/s', 'CPU ms/msg', 'idle RSS MB', 'peak RSS MB', 'busy', 'note'],
    rows,
    ['r', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
  );
}

export function latencyTable(latency, scenarios) {
  const rows = [];
  for (const s of scenarios) {
    for (const mode of ['direct', 'proxied', 'bare', 'baseline', 'workers']) {
      const l = latency?.[s.id]?.[mode];
      if (!l) continue;
      rows.push([
        s.id,
        mode,
        fmt(l.ok),
        fmt(l.failed),
        fmt(l.rate),
        fmt(l.latency?.p50, 2),
        fmt(l.latency?.p90, 2),
        fmt(l.latency?.p99, 2),
        fmt(l.latency?.max, 1),
        (l.errors ?? [])
          .map((e) => `${e.count}× ${e.message}`)
          .join('; ')
          .slice(0, 80),
      ]);
    }
  }
  return table(['scenario', 'mode', 'ok', 'failed', 'msgs/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'errors'], rows, [
    'l',
    'l',
    'r',
    'r',
    'r',
    'r',
    'r',
    'r',
    'r',
    'l',
  ]);
}

/** [{ name, target, measured, verdict }] — verdict PASS, MISS or n/a. */
export function targets(summary, runs, analysis) {
  const by = Object.fromEntries(summary.map((s) => [s.scenario.id, s]));
  const out = [];
  const check = (name, target, value, ok, measured) =>
    out.push({ name, target, measured: measured ?? (value === null ? 'not measured' : ratio(value)), verdict: value === null ? 'n/a' : ok ? 'PASS' : 'MISS' });

  const r1 = by.pass?.ratio ?? null;
  check('pass path, 5 KB, 20 persistent sessions', '≥ 0.42× direct', r1, r1 >= 0.42);
  const vsBare = by.pass?.guardVsBare?.ratio ?? null;
  const cpuGuard = by.pass?.proxied?.cpuMsPerMsg ?? null;
  const cpuBare = by.pass?.bare?.cpuMsPerMsg ?? null;
  const lowerCpu = cpuGuard !== null && cpuBare !== null && cpuGuard < cpuBare;
  check(
    'pass path against the bare forwarder',
    '≥ 1.10× its msgs/s, less CPU/msg',
    vsBare,
    vsBare >= 1.1 && lowerCpu,
    vsBare === null ? undefined : `${ratio(vsBare)}; CPU ms/msg ${fmt(cpuGuard, 3)} vs ${fmt(cpuBare, 3)} (${lowerCpu ? 'less' : 'not less'})`,
  );
  const r2 = by.conn?.ratio ?? null;
  check('one connection per message', '≥ 0.35× direct', r2, r2 >= 0.35);

  const split = by.split?.proxied;
  const pass = by.pass?.proxied;
  const r3 = split?.copiesPerSec && pass?.msgsPerSec ? split.copiesPerSec / pass.msgsPerSec : null;
  check(
    'split path: copies/s vs pass msgs/s (proxied)',
    '≥ 0.80×',
    r3,
    r3 >= 0.8,
    r3 === null ? undefined : `${ratio(r3)} (${fmt(split.copiesPerSec)} copies/s / ${fmt(pass.msgsPerSec)} msgs/s)`,
  );

  const r4 = by.big?.ratio ?? null;
  check('5 MB messages, 4 sessions', '≥ 0.35× direct', r4, r4 >= 0.35);
  // The 5 MB memory bound, for workers: 1 and (where it ran) for workers: N over its whole process tree.
  const rss = (name, scenario, mode, always) => {
    const item = peakRssCheck(runs, scenario, mode, name);
    if (item) out.push(item);
    else if (always || runs.some((r) => r.mode === mode && r.scenario === scenario)) check(name, '≤ 2× in flight + idle', null, false);
  };
  rss('5 MB: peak RSS', 'big', 'proxied', true);
  rss('5 MB with workers: peak RSS of all processes', 'big', 'workers', false);
  // Issue 14: the same bound with the content scan on, a 5 MB message with a PDF-like attachment (and off, for comparison).
  rss('5 MB PDF-like, content scan off: peak RSS', 'pdf5m', 'proxied', false);
  rss('5 MB PDF-like, content scan on: peak RSS', 'pdf5m', 'content', false);

  if (analysis?.ok) {
    const sorted = [...analysis.warmMs].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const bounded = analysis.outcome.kind === 'reject' || (analysis.outcome.kind === 'report' && analysis.outcome.truncated === true);
    check(
      `analysis of ${fmt(analysis.addresses)} addresses in one To`,
      '≤ 100 ms',
      median,
      median <= 100,
      `${fmt(median, 1)} ms median of ${analysis.warmMs.length} (first call ${fmt(analysis.coldMs, 1)} ms)`,
    );
    out.push({
      name: '  … then a bounded reject',
      target: '5xx reply or truncated report',
      measured: outcomeText(analysis.outcome),
      verdict: bounded ? 'PASS' : 'MISS',
    });
  } else {
    check(`analysis of 50,000 addresses in one To`, '≤ 100 ms', null, false, `not measured: ${analysis?.reason ?? 'unknown'}`);
  }
  return out;
}

/**
 * Issue 14: content scanning on against off, per content scenario: msgs/s, CPU ms/msg and peak RSS of
 * each (best run), and on/off as the median of the per-round pairs (above 1.00× in msgs/s: on faster;
 * in CPU and RSS: on costlier).
 */
export function contentLines(summary) {
  const lines = [];
  for (const s of summary) {
    if (!s.contentRan) continue;
    const off = s.proxied;
    const on = s.content;
    const pair = (r) => `${ratio(r.ratio)}${r.perRound.length > 1 ? ` (rounds ${r.perRound.map((x) => x.toFixed(2)).join(', ')})` : ''}`;
    const mb = (run) => fmt(run?.peakRss ? run.peakRss / MB : null, 1);
    lines.push(
      `${s.scenario.short}: msgs/s off ${fmt(off?.msgsPerSec)}, on ${fmt(on?.msgsPerSec)}, on/off ${pair(s.contentVsOff.msgs)}; ` +
        `CPU ms/msg off ${fmt(off?.cpuMsPerMsg, 3)}, on ${fmt(on?.cpuMsPerMsg, 3)}, on/off ${pair(s.contentVsOff.cpu)}; ` +
        `peak RSS MB off ${mb(off)}, on ${mb(on)}, on/off ${pair(s.contentVsOff.rss)}`,
    );
  }
  return lines;
}

const CONTENT_NAMES = { text: '5 KB text', csv: '200 KB with a 30-row CSV', pdf: '5 MB PDF-like' };

/** bench/content-scan.mjs's result: per message, header analysis against the content scan, in µs per call. */
export function contentScanLines(result) {
  if (!result) return [];
  if (!result.messages) return [`content scan per message: not measured: ${result.reason}`];
  return result.messages.map((m) => {
    const name = `${CONTENT_NAMES[m.kind] ?? m.kind} (${fmt(m.bytes)} B)`;
    const head = `content scan per message, ${name}: header analysis ${fmt(m.analysisUs, 1)} µs`;
    if (m.error) return `${head}; the scan threw: ${m.error}`;
    const o = m.outcome ?? {};
    const what =
      o.scanned === false
        ? `not decoded (pre-scan: at most ${o.atMost} addresses)`
        : `scanned: ${o.externalCount} external in ${o.locations} part(s), ${o.uninspected} not inspected${o.bound ? `, bound ${o.bound}` : ''}`;
    return `${head}, content scan ${fmt(m.scanUs, 1)} µs (${ratio(m.scanUs / m.analysisUs)} of the analysis; ${fmt(m.calls)} calls) → ${what}`;
  });
}

/**
 * "peak RSS ≤ 2× in flight + idle" over the runs of one scenario and mode, judged on the worst run
 * (the largest peak above its own idle baseline); null when no such run was measured.
 */
export function peakRssCheck(runs, scenario, mode, name) {
  const measured = runs.filter((r) => r.scenario === scenario && r.mode === mode && !r.failed && r.peakRss && r.idleRss);
  if (!measured.length) return null;
  const worst = measured.reduce((a, b) => (b.peakRss - b.idleRss > a.peakRss - a.idleRss ? b : a));
  const limit = 2 * worst.inFlightBytes + worst.idleRss;
  const ok = worst.peakRss <= limit;
  return {
    name,
    target: '≤ 2× in flight + idle',
    measured:
      `${fmt(worst.peakRss / MB, 1)} MB ${ok ? '≤' : '>'} ${fmt(limit / MB, 1)} MB = 2×${fmt(worst.inFlightBytes / MB, 1)} in flight + ${fmt(worst.idleRss / MB, 1)} idle ` +
      `(${fmt((worst.peakRss - worst.idleRss) / worst.inFlightBytes, 2)}× in flight above idle${worst.processes > 1 ? `, ${worst.processes} processes` : ''})`,
    verdict: ok ? 'PASS' : 'MISS',
  };
}

export function outcomeText(outcome) {
  if (!outcome) return '—';
  if (outcome.kind === 'reject') return outcome.reply.slice(0, 110);
  if (outcome.kind === 'report') {
    // findings: null from an analyser that has none (it threw instead), [] for none found.
    const findings = outcome.findings ? `, findings: ${outcome.findings.length ? outcome.findings.join('; ') : 'none'}` : '';
    return `report: truncated=${outcome.truncated}, addressesSeen=${outcome.addressesSeen}, external=${outcome.visibleExternalCount}${findings}`;
  }
  return `error: ${String(outcome.error).split('\n')[0].slice(0, 110)}`;
}

/**
 * workers: N against workers: 1 (pass path) and what that says about a larger
 * host: its CPU per message sets the ceiling of one core (1000 / CPU ms/msg
 * msgs/s), and a host whose cores mail-guard has to itself gets that times its
 * cores — a projection, not a measurement: the load generator, the sink and
 * the relay have other cores there, and here they share these two.
 */
export function workersLines(summary, { workers, cores, projectTo }) {
  const out = [];
  for (const s of summary.filter((x) => x.workersRan)) {
    const name = scenarioNames[s.scenario.id] ?? (s.scenario.id === 'big' ? '5 MB' : s.scenario.id);
    const one = s.proxied;
    const many = s.workers;
    out.push(
      `${name}, msgs/s: workers: ${workers} / workers: 1: ${roundsText(s.workersVsOne.msgs)}; best runs ${fmt(many?.msgsPerSec)} vs ${fmt(one?.msgsPerSec)}`,
    );
    out.push(
      `${name}, CPU ms/msg (all processes): ${fmt(many?.cpuMsPerMsg, 3)} vs ${fmt(one?.cpuMsPerMsg, 3)}; workers: ${workers} / workers: 1: ${roundsText(s.workersVsOne.cpu)}`,
    );
    if (s.scenario.id !== 'pass' || !many?.cpuMsPerMsg || !one?.cpuMsPerMsg) continue;
    const perCore = 1000 / many.cpuMsPerMsg;
    const busy = many.busy !== null && many.busy !== undefined ? `${Math.round(many.busy * 100)}%` : '—';
    out.push(
      `here: ${cores} cores ${busy} busy during the workers run, shared by the load generator, the sink and mail-guard, so ${workers} workers cannot get ${workers} cores`,
    );
    out.push(
      `projection for a ${projectTo}-core host running mail-guard with workers: ${projectTo} (or auto) on cores of its own: ` +
        `${projectTo} × 1000 / ${fmt(many.cpuMsPerMsg, 3)} CPU ms/msg ≈ ${fmt(projectTo * perCore)} msgs/s ceiling ` +
        `(one core: ${fmt(perCore)} msgs/s; with workers: 1 the same host gets one core's ${fmt(1000 / one.cpuMsPerMsg)} msgs/s)`,
    );
  }
  return out;
}

export function targetsTable(list) {
  return table(
    ['target (issue 13)', 'wanted', 'measured', ''],
    list.map((t) => [t.name, t.target, t.measured, t.verdict]),
    ['l', 'l', 'l', 'l'],
  );
}
