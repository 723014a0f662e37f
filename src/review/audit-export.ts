import { auditJsonLine, MAX_AUDIT_READ, type AuditEntry } from '../store/audit-chain.js';
import type { AuditLog } from '../store/message-store.js';

// The audit log as a download (GET /api/audit?format=…, mail-guard audit
// export). JSONL is the faithful form, one stored entry per line, and the one
// `mail-guard audit verify --file` checks. CSV is for reading in a spreadsheet:
// text that a spreadsheet would run as a formula is defused, which changes it,
// so a CSV cannot be verified against the chain.

export const AUDIT_EXPORT_FORMATS = ['jsonl', 'csv'] as const;
export type AuditExportFormat = (typeof AUDIT_EXPORT_FORMATS)[number];

export const AUDIT_CSV_COLUMNS = ['seq', 'at', 'actor', 'action', 'target', 'note', 'prev', 'hash'] as const;

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF,
 * quotes doubled. A field that starts like a formula (= + - @, tab, CR, or
 * their full-width forms, which some spreadsheets in Japanese read alike) gets
 * a leading apostrophe, so the spreadsheet shows it as text instead of running
 * it (OWASP "CSV injection"). null is the empty field.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (/^[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV record with its CRLF. */
export function auditCsvRow(entry: AuditEntry): string {
  return AUDIT_CSV_COLUMNS.map((column) => csvField(entry[column])).join(',') + '\r\n';
}

/**
 * The CSV header, after a UTF-8 byte order mark: without it, Excel (Japanese
 * Windows above all) reads the file as the local code page and garbles every
 * name and note that is not ASCII.
 */
export function auditCsvHeader(): string {
  return '\ufeff' + AUDIT_CSV_COLUMNS.join(',') + '\r\n';
}

/** One stored entry as a JSONL line, with its newline. */
export function auditJsonlRow(entry: AuditEntry): string {
  return auditJsonLine(entry) + '\n';
}

/**
 * The whole log from `after` on, as text chunks of the format, read a page at a
 * time. `first` is a page already read (the API reads it before it answers, so
 * a store that is down is a 503, not a cut-off download).
 */
export async function* exportAudit(
  audit: Pick<AuditLog, 'read'>,
  format: AuditExportFormat,
  options: { readonly after?: number; readonly first?: readonly AuditEntry[]; readonly pageSize?: number } = {},
): AsyncGenerator<string> {
  const pageSize = options.pageSize ?? MAX_AUDIT_READ;
  const row = format === 'csv' ? auditCsvRow : auditJsonlRow;
  if (format === 'csv') yield auditCsvHeader();
  let after = options.after ?? 0;
  let page = options.first ?? (await audit.read({ after, limit: pageSize }));
  while (page.length > 0) {
    yield page.map(row).join('');
    after += page.length;
    page = await audit.read({ after, limit: pageSize });
  }
}
