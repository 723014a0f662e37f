import { readFile } from 'node:fs/promises';
import { judgeMessage } from '../actions/judge-message.js';
import { contentForRecord } from '../actions/build-record.js';
import { makeAddressMasker } from '../observability/mask.js';
import type { RecordContent } from '../store/record.js';
import type { MailGuardConfig } from '../config/schema.js';
import { assembleMessage } from '../message/message-bytes.js';
import { createJudge } from '../policy/judge.js';
import { formatReply } from '../reply/replies.js';

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
  /** Why a bcc or split copy would not be sent (the message would be held instead). */
  withheld?: string;
  /** With content scanned: whether the headers alone break a threshold (the header names then say where). */
  headersViolated?: boolean;
  /** Where the content scan found addresses, masked as the log is; absent when it did not run. */
  content?: RecordContent;
  error?: string;
}

// Saved mail (mbox, `formail`, many clients' "save as") starts with a
// separator line that never reaches the wire: `From sender date`.
const MBOX_FROM_LINE = /^From [^\r\n]*\r?\n/;

/** The file as a mailer would send it: without an mbox separator line. */
export function withoutMboxFromLine(raw: Buffer): Buffer {
  if (raw[0] !== 0x46 || raw.toString('latin1', 0, 5) !== 'From ') return raw;
  const line = MBOX_FROM_LINE.exec(raw.toString('latin1', 0, Math.min(raw.length, 1000)));
  return line ? raw.subarray(line[0].length) : raw;
}

/**
 * The proxy's own analysis and policy, offline: what would happen to each
 * message file. Exit 0 when all pass, 1 when any would be stopped or
 * rewritten, 2 when a file could not be read.
 */
export async function runCheck(config: MailGuardConfig, files: readonly string[], options: CheckOptions): Promise<number> {
  const { analyse, decide, scanContent } = createJudge(config, () => performance.now());
  const mask = makeAddressMasker(config.log.showAddresses);
  const results: FileVerdict[] = [];
  let exitCode = 0;
  for (const file of files) {
    let raw: Buffer;
    try {
      raw = await readFile(file);
    } catch (err) {
      results.push({
        file,
        violation: false,
        action: 'error',
        rule: null,
        reason: '',
        reply: null,
        exposedExternal: null,
        exposingHeaders: [],
        error: (err as NodeJS.ErrnoException).code ?? String(err),
      });
      exitCode = 2;
      continue;
    }
    // The same bytes, the same analysis and the same decision as on the wire.
    const message = assembleMessage([withoutMboxFromLine(raw)], config.smtp.maxHeaderBytes);
    // Without --from, rules on the sender see the header From, as the mailer would have sent it.
    const mailFrom = options.mailFrom ?? analyse(message, { mailFrom: '', rcptTo: options.rcptTo }).headerFrom?.address ?? '';
    const context = { mailFrom, rcptTo: options.rcptTo, clientAddress: '127.0.0.1' };
    const { analysis, verdict, withheld, content } = judgeMessage(analyse, decide, message, context, scanContent);
    // A refusal, or a hold because a content bound stopped the scan: stopped without breaking a threshold.
    const refused = verdict.action === 'reject' || verdict.action === 'quarantine';
    // A message that could not be read has no exposure worth a number.
    const unread = analysis.findings.some((f) => f.kind !== 'address-budget');
    results.push({
      file,
      violation: verdict.violation || refused,
      action: verdict.action,
      rule: verdict.rule,
      reason: verdict.reason,
      reply: verdict.rejectReply ? formatReply(verdict.rejectReply) : null,
      exposedExternal: unread ? null : analysis.exposure.exposedExternal.length,
      exposingHeaders: analysis.exposure.exposingHeaders,
      ...(withheld ? { withheld: withheld.reason } : {}),
      ...(content?.scanned
        ? {
            headersViolated: decide(
              { findings: analysis.findings, exposure: analysis.exposure, content: null },
              { context, headerFromDomain: analysis.headerFrom?.domain ?? null },
            ).violation,
            content: contentForRecord(content, mask),
          }
        : {}),
    });
    if ((verdict.violation || refused) && exitCode === 0) exitCode = 1;
  }
  if (options.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else for (const r of results) process.stdout.write(describe(r) + '\n');
  return exitCode;
}

function describe(r: FileVerdict): string {
  if (r.error) return `${r.file}: ERROR cannot read (${r.error})`;
  const content = r.content ? describeContent(r.content) : '';
  if (!r.violation) return `${r.file}: pass (rule ${r.rule}; ${r.exposedExternal} exposed external address(es))${content}`;
  const where = r.exposingHeaders.length && r.headersViolated !== false ? ` in ${r.exposingHeaders.join(', ')}` : '';
  const withheld = r.withheld ? `\n  held instead of sent: ${r.withheld}` : '';
  return `${r.file}: VIOLATION -> ${r.action} (rule ${r.rule ?? '-'}; ${r.reason}${where})${r.reply ? `\n  ${r.reply}` : ''}${withheld}${content}`;
}

/** One line per place: part, type, filename, what it was read as, count and the first addresses (masked). */
function describeContent(c: RecordContent): string {
  const lines = [`\n  content: ${c.externalCount} distinct external address(es)${c.bound ? `; scan stopped at ${c.bound.kind} (${c.bound.limit})` : ''}`];
  for (const l of c.locations) {
    const shown = l.addresses.slice(0, 3).join(', ');
    const more = l.externalCount > 3 ? ', …' : '';
    lines.push(`    part ${l.part} ${l.contentType}${l.filename ? ` ${JSON.stringify(l.filename)}` : ''} (${l.carrier}): ${l.externalCount} (${shown}${more})`);
  }
  for (const u of c.uninspected)
    lines.push(`    part ${u.part} ${u.contentType}${u.filename ? ` ${JSON.stringify(u.filename)}` : ''}: not inspected (${u.why})`);
  return lines.join('\n');
}
