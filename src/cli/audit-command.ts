import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Command, Option } from 'commander';
import { loadConfigFile, resolveConfigPath } from '../config/load.js';
import { AuditLogCorruptError, ChainVerifier, MAX_AUDIT_READ, parseAuditLine, type ChainCheck } from '../store/audit-chain.js';
import { StoreUnavailableError } from '../store/message-store.js';
import type { AuditReader } from '../store/open-audit-log.js';

// `mail-guard audit verify|export`: reads the configured store directly, read
// only (store/open-audit-log.ts), so it works with mail-guard stopped and needs
// no token; or, for verify, an export file. The chain itself: store/audit-chain.ts.

/** 0 intact; 1 the chain is broken (the first bad entry is named); 2 usage, config or store error. */
export const AUDIT_EXIT = { intact: 0, broken: 1, error: 2 } as const;

interface VerifyOptions {
  readonly config?: string;
  readonly file?: string;
  readonly expectLast?: string;
}

interface ExportOptions {
  readonly config?: string;
  readonly format: string;
}

type Out = NodeJS.WritableStream;

class UsageError extends Error {}

export function registerAuditCommands(program: Command, configOption: () => Option): void {
  const audit = program.command('audit').description('the hash-chained audit log of review actions: verify it, export it');
  audit
    .command('verify')
    .description('walk the hash chain; exit 0 intact, 1 an entry was changed, removed or reordered (the first is named), 2 usage, config or store error')
    .addOption(configOption())
    .option('--file <export.jsonl>', 'verify a JSONL export (audit export, GET /api/audit?format=jsonl) instead of the store')
    .option('--expect-last <hash>', 'the last hash an earlier verify printed: that entry must still be in the log (catches entries cut off the end)')
    .action(async (opts: VerifyOptions) => {
      process.exitCode = await runAuditVerify(opts, process.stdout, process.stderr);
    });
  audit
    .command('export')
    .description('write the whole audit log to stdout, as JSONL (verifiable) or CSV (for a spreadsheet)')
    .addOption(configOption())
    .option('--format <format>', 'jsonl | csv', 'jsonl')
    .action(async (opts: ExportOptions) => {
      process.exitCode = await runAuditExport(opts, process.stdout, process.stderr);
    });
}

export async function runAuditVerify(opts: VerifyOptions, out: Out, err: Out): Promise<number> {
  let result: ChainCheck;
  try {
    if (opts.file !== undefined && opts.config !== undefined) throw new UsageError('give -c (the store) or --file (an export), not both');
    const expectLast = opts.expectLast?.toLowerCase() ?? null;
    if (expectLast !== null && !/^[0-9a-f]{64}$/.test(expectLast)) throw new UsageError('--expect-last takes a hash: 64 hex digits, as audit verify prints it');
    const verifier = new ChainVerifier(expectLast);
    if (opts.file !== undefined) await verifyFile(opts.file, verifier);
    else await verifyStore(opts.config, verifier);
    result = verifier.result();
  } catch (e) {
    return failed(e, err);
  }
  if (result.ok) {
    const { count, first, last } = result;
    out.write(first && last ? `audit log intact: ${count} entries, ${first.at} to ${last.at}; last hash ${last.hash}\n` : 'audit log intact: no entries yet\n');
    return AUDIT_EXIT.intact;
  }
  const { seq, at, fault, why } = result.bad;
  out.write(`audit log BROKEN at seq ${seq}${at === null ? '' : ` (${at})`}: ${fault}: ${why}\n`);
  return AUDIT_EXIT.broken;
}

export async function runAuditExport(opts: ExportOptions, out: Out, err: Out): Promise<number> {
  try {
    const { AUDIT_EXPORT_FORMATS, exportAudit } = await import('../review/audit-export.js');
    const format = AUDIT_EXPORT_FORMATS.find((f) => f === opts.format);
    if (format === undefined) throw new UsageError(`--format must be ${AUDIT_EXPORT_FORMATS.join(' or ')}`);
    await withReader(opts.config, async (reader) => {
      for await (const chunk of exportAudit(reader, format)) if (!out.write(chunk)) await once(out, 'drain');
    });
    return 0;
  } catch (e) {
    return failed(e, err);
  }
}

async function verifyFile(path: string, verifier: ChainVerifier): Promise<void> {
  // Opened first: a file that cannot be read is an error, not an empty (and so intact) log.
  const file = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${path}: ${e.code ?? e.message}`);
  });
  const lines = createInterface({ input: file.createReadStream({ encoding: 'utf8' }), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      verifier.push(parseAuditLine(line));
      if (verifier.settled) break;
    }
  } finally {
    lines.close();
    await file.close();
  }
}

async function verifyStore(configPath: string | undefined, verifier: ChainVerifier): Promise<void> {
  await withReader(configPath, async (reader) => {
    // The lines as stored, not parsed entries: a line that is not an entry is for the verifier to name.
    for (let after = 0; ;) {
      const lines = await reader.readLines({ after, limit: MAX_AUDIT_READ });
      if (lines.length === 0) return;
      for (const line of lines) {
        verifier.push(parseAuditLine(line));
        if (verifier.settled) return;
      }
      after += lines.length;
    }
  });
}

async function withReader(configPath: string | undefined, fn: (reader: AuditReader) => Promise<void>): Promise<void> {
  // Loaded here: the rest of the CLI should not pay for ioredis.
  const { openAuditReader } = await import('../store/open-audit-log.js');
  const config = loadConfigFile(resolveConfigPath(configPath));
  const reader = await openAuditReader(config.store);
  try {
    await fn(reader);
  } finally {
    await reader.close();
  }
}

/** Usage and store errors: one line, exit 2. Anything else (a bad config: ConfigError) goes to main's handler, also exit 2. */
function failed(e: unknown, err: Out): number {
  if (e instanceof UsageError || e instanceof StoreUnavailableError || e instanceof AuditLogCorruptError) {
    err.write(`mail-guard: ${e.message}\n`);
    return AUDIT_EXIT.error;
  }
  throw e;
}
