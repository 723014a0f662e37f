#!/usr/bin/env node
// The per-message analysis cost, in its own process: the analyser from
// PROJECT_DIR/dist/analysis on the header block every ordinary message has
// (a 5 KB clean message from an internal sender with a Japanese display name,
// one external To, two internal Cc, 12 header fields), ITERATIONS times.
// This is what every message pays on the pass path, without the sockets.
// Prints one JSON line:
// { ok, shape, messageBytes, headerFields, iterations, usPerMsg, batchUs: [...], outcome } or { ok: false, reason }.
// PROJECT_DIR may be an older checkout (BENCH_BASELINE): bench/analyser.mjs
// finds its calling convention.
//
//   node bench/analysis-message.mjs PROJECT_DIR [ITERATIONS]
import { performance } from 'node:perf_hooks';
import { analyseOnce, BENCH_ANALYSIS_OPTIONS, describe, loadAnalyser } from './analyser.mjs';
import { reportFromChild } from './child-result.mjs';

const projectDir = process.argv[2] ?? process.cwd();
const iterations = Math.max(1000, Math.min(5_000_000, Math.round(Number(process.argv[3] ?? 200000)) || 200000));
const BATCHES = 10;
const SIZE = 5120;

// As a Japanese mail client writes it: display names and subject as
// ISO-2022-JP encoded words (山田 太郎, 佐藤 花子, お見積りの件（10月分）).
const HEADER = [
  'From: =?ISO-2022-JP?B?GyRCOzNFRBsoQiAbJEJCQE86GyhC?= <yamada.taro@example.co.jp>',
  'To: "Ichiro Tanaka" <ichiro.tanaka@client.example>',
  'Cc: =?ISO-2022-JP?B?GyRCOjRGIxsoQiAbJEIyVjtSGyhC?= <sato.hanako@example.co.jp>,',
  ' suzuki@example.co.jp',
  'Subject: =?ISO-2022-JP?B?GyRCJCo4K0BRJGokTjdvIUobKEIxMBskQjduSiwhSxsoQg==?=',
  'Date: Tue, 01 Dec 2026 10:15:00 +0900',
  'Message-ID: <20261201101500.4F2A9C@mail.example.co.jp>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=ISO-2022-JP',
  'Content-Transfer-Encoding: 7bit',
  'Content-Language: ja',
  'X-Mailer: Microsoft Outlook 16.0',
  'Thread-Index: AdnK2b3xQ1eRk0vXT8yZ3mF0aBcDeA==',
];
const HEADER_FIELDS = HEADER.filter((line) => !line.startsWith(' ')).length;

function message() {
  const head = HEADER.join('\r\n') + '\r\n\r\n';
  // 7-bit body lines up to 5 KB in all: the body is only searched for a NUL.
  const line = 'The quotation for October is attached; please confirm by Friday. Thank you.\r\n';
  let body = '';
  while (head.length + body.length + line.length <= SIZE) body += line;
  body += 'x'.repeat(Math.max(0, SIZE - head.length - body.length - 2)) + '\r\n';
  return Buffer.from(head + body, 'latin1');
}

async function main() {
  const analyser = await loadAnalyser(projectDir, BENCH_ANALYSIS_OPTIONS);
  if (!analyser.ok) return analyser;
  const raw = message();
  const input = analyser.input(raw);
  const envelope = { mailFrom: 'yamada.taro@example.co.jp', rcptTo: ['ichiro.tanaka@client.example', 'sato.hanako@example.co.jp', 'suzuki@example.co.jp'] };
  const first = await analyseOnce(analyser, input, envelope);
  const outcome = describe(first);
  if (first.thrown) return { ok: false, shape: analyser.shape, reason: `the clean message was refused: ${outcome.reply ?? outcome.error}` };
  // Both versions analyse synchronously; an await per call would time the
  // microtask queue, not the analyser.
  const isAsync = typeof first.value?.then === 'function';
  const analyse = analyser.analyse;
  let externals = 0; // used after the loop, so no call can be dropped as dead code
  const batch = async (n) => {
    const t0 = performance.now();
    if (isAsync) for (let i = 0; i < n; i++) externals += (await analyse(input, envelope)).exposure.visibleExternalCount;
    else for (let i = 0; i < n; i++) externals += analyse(input, envelope).exposure.visibleExternalCount;
    return performance.now() - t0;
  };
  await batch(Math.min(20000, Math.ceil(iterations / 10))); // warm-up (JIT, caches): not measured
  const per = Math.ceil(iterations / BATCHES);
  const batchMs = [];
  for (let b = 0; b < BATCHES; b++) batchMs.push(await batch(per));
  const total = per * BATCHES;
  return {
    ok: true,
    shape: analyser.shape,
    messageBytes: raw.length,
    headerFields: HEADER_FIELDS,
    iterations: total,
    usPerMsg: (batchMs.reduce((a, b) => a + b, 0) * 1000) / total,
    batchUs: batchMs.map((ms) => (ms * 1000) / per),
    outcome,
    externalsPerCall: externals / (total + Math.min(20000, Math.ceil(iterations / 10))),
  };
}

reportFromChild(main, 120);
