// THREATS.md principle 8 and the large cases of "Headers and addresses",
// generated here rather than committed as megabytes of fixtures. These tests
// only check that each run completes with the right outcome; timings are
// measured outside the suite.
import { describe, expect, it } from 'vitest';
import { createAnalyser as createBufferAnalyser, type AnalysisOptions } from '../../../src/analysis/analyse.js';
import { asInput, refusal } from '../../helpers/analysis.js';

const base: AnalysisOptions = {
  internalDomains: ['example.co.jp', '*.example.co.jp'],
  freemailDomains: ['gmail.com'],
  maxAddresses: 10_000,
  maxHeaderBytes: 1_048_576,
};
const envelope = { mailFrom: 'news@example.co.jp', rcptTo: ['r@ext0.com'] };
const message = (headers: string): Buffer => Buffer.from(`From: news@example.co.jp\r\nSubject: bounds\r\n${headers}\r\n\r\nbody\r\n`, 'utf8');
const list = (n: number, make: (i: number) => string): string => Array.from({ length: n }, (_, i) => make(i)).join(', ');

// These tests start from whole messages in one buffer.
const createAnalyser = (options: AnalysisOptions) => {
  const analyse = createBufferAnalyser(options);
  return (message: Buffer, env: typeof envelope) => analyse(asInput(message), env);
};
const reply = (analysis: ReturnType<ReturnType<typeof createAnalyser>>) => refusal(analysis);

describe('large and hostile headers', () => {
  const analyse = createAnalyser(base);

  it('a 2 MB header block is 552 5.3.4', () => {
    const huge = message('To: ' + list(100_000, (i) => `user${i}@ext${i}.com`));
    expect(huge.length).toBeGreaterThan(2_000_000);
    expect(reply(analyse(huge, envelope))).toEqual({ code: 552, enhanced: '5.3.4' });
  });

  it('a 2 MB single Subject line is 552 5.3.4 as well', () => {
    expect(reply(analyse(message('Subject: ' + 'a'.repeat(2 << 20)), envelope))).toEqual({ code: 552, enhanced: '5.3.4' });
  });

  it('20,000 To lines: truncated at the cap, never a pass', () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `To: u${i}@ext${i}.com`).join('\r\n');
    const { exposure, header } = analyse(message(lines), envelope);
    expect(header.fields.filter((f) => f.lowerName === 'to')).toHaveLength(20_000);
    expect(exposure.truncated).toBe(true);
    expect(exposure.addressesSeen).toBe(10_000);
  });

  it('50,000 addresses in one To: truncated', () => {
    const { exposure } = analyse(message('To: ' + list(50_000, (i) => `u${i}@e${i}.jp`)), envelope);
    expect(exposure.truncated).toBe(true);
    expect(exposure.addressesSeen).toBe(10_000);
  });

  it('50,000 addresses in one To with a larger header limit: still truncated', () => {
    const roomy = createAnalyser({ ...base, maxHeaderBytes: 4 << 20 });
    const m = message('To: ' + list(50_000, (i) => `someone${i}@external${i}.example.com`));
    expect(m.length).toBeGreaterThan(1 << 20);
    expect(roomy(m, envelope).exposure.truncated).toBe(true);
  });

  it('exactly maxAddresses distinct addresses are counted in full; one more is truncated', () => {
    const small = createAnalyser({ ...base, maxAddresses: 300 });
    const at = small(message('To: ' + list(300, (i) => `u${i}@ext${i}.com`)), envelope).exposure;
    expect(at.truncated).toBe(false);
    expect(at.visibleExternalCount).toBe(300);
    expect(at.exposedExternal).toHaveLength(300);
    const over = small(message('To: ' + list(150, (i) => `u${i}@ext${i}.com`) + '\r\nCc: ' + list(151, (i) => `c${i}@ext${i}.com`)), envelope).exposure;
    expect(over.truncated).toBe(true);
    expect(over.addressesSeen).toBe(300);
  });

  it("50,000 '(' in To: completes, nothing visible", () => {
    const { exposure } = analyse(message('To: ' + '('.repeat(50_000)), envelope);
    expect(exposure.visible).toEqual([]);
    expect(exposure.truncated).toBe(false);
  });

  it("50,000 '(' around an address: 554 5.6.0, never a pass", () => {
    const m = message('To: ' + '('.repeat(50_000) + 'x@ext1.com' + ')'.repeat(50_000));
    expect(reply(analyse(m, envelope))).toEqual({ code: 554, enhanced: '5.6.0' });
  });

  it('deeply nested groups: 554 5.6.0', () => {
    const m = message('Cc: ' + 'g:'.repeat(20_000) + 'x@ext1.com' + ';'.repeat(20_000));
    expect(reply(analyse(m, envelope))).toEqual({ code: 554, enhanced: '5.6.0' });
  });

  it('an envelope of 50 externals with To: undisclosed-recipients:; exposes nothing', () => {
    const rcptTo = Array.from({ length: 50 }, (_, i) => `u${i}@ext${i}.com`);
    const { exposure } = analyse(message('To: undisclosed-recipients:;'), { mailFrom: '', rcptTo });
    expect(exposure.exposedExternal).toEqual([]);
    expect(exposure.exposingHeaders).toEqual([]);
  });
});
