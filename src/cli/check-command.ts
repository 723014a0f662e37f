import { readFile } from 'node:fs/promises';
import { normaliseLineEndings } from '../analysis/line-endings.js';
import type { MailGuardConfig } from '../config/schema.js';
import { createJudge } from '../policy/judge.js';
import { formatReply, SmtpReplyError } from '../smtp/replies.js';

export interface CheckOptions {
  readonly json: boolean;
  /** Envelope for the offline check; without it every visible external address counts as exposed. */
  readonly mailFrom?: string;
  readonly rcptTo: readonly string[];
}

interface FileVerdict {
  file: string;
  violation: boolean;
  action: string;
  rule: string | null;
  reason: string;
  reply: string | null;
  exposedExternal: number | null;
  exposingHeaders: readonly string[];
  error?: string;
}

/**
 * The proxy's own analysis and policy, offline: what would happen to each
 * message file. Exit 0 when all pass, 1 when any would be stopped or
 * rewritten, 2 when a file could not be read.
 */
export async function runCheck(config: MailGuardConfig, files: readonly string[], options: CheckOptions): Promise<number> {
  const { analyse, decide } = createJudge(config);
  const results: FileVerdict[] = [];
  let exitCode = 0;
  for (const file of files) {
    let raw: Buffer;
    try {
      raw = await readFile(file);
    } catch (err) {
      results.push({ file, violation: false, action: 'error', rule: null, reason: '', reply: null, exposedExternal: null, exposingHeaders: [], error: (err as NodeJS.ErrnoException).code ?? String(err) });
      exitCode = 2;
      continue;
    }
    const message = normaliseLineEndings(raw);
    try {
      const analysisEnvelope = { mailFrom: options.mailFrom ?? '', rcptTo: options.rcptTo };
      const analysis = analyse(message, analysisEnvelope);
      const verdict = decide(analysis.exposure, {
        context: { ...analysisEnvelope, mailFrom: options.mailFrom ?? analysis.headerFrom?.address ?? '', clientAddress: '127.0.0.1' },
        headerFromDomain: analysis.headerFrom?.domain ?? null,
      });
      results.push({
        file,
        violation: verdict.violation,
        action: verdict.action,
        rule: verdict.rule,
        reason: verdict.reason,
        reply: verdict.rejectReply ? formatReply(verdict.rejectReply) : null,
        exposedExternal: analysis.exposure.exposedExternal.length,
        exposingHeaders: analysis.exposure.exposingHeaders,
      });
      if (verdict.violation && exitCode === 0) exitCode = 1;
    } catch (err) {
      if (!(err instanceof SmtpReplyError)) throw err;
      results.push({ file, violation: true, action: 'reject', rule: null, reason: err.reply.text, reply: formatReply(err.reply), exposedExternal: null, exposingHeaders: [] });
      if (exitCode === 0) exitCode = 1;
    }
  }
  if (options.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else for (const r of results) process.stdout.write(describe(r) + '\n');
  return exitCode;
}

function describe(r: FileVerdict): string {
  if (r.error) return `${r.file}: ERROR cannot read (${r.error})`;
  if (!r.violation) return `${r.file}: pass (rule ${r.rule}; ${r.exposedExternal} exposed external address(es))`;
  const where = r.exposingHeaders.length ? ` in ${r.exposingHeaders.join(', ')}` : '';
  return `${r.file}: VIOLATION -> ${r.action} (rule ${r.rule ?? '-'}; ${r.reason}${where})${r.reply ? `\n  ${r.reply}` : ''}`;
}
