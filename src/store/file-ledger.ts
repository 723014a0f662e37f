import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DeliveryLedger } from './message-store.js';

interface LedgerLine {
  d: string;
  r?: string[];
  clear?: true;
  t: number;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * The file store's delivery ledger: one JSONL file under store.path, appended
 * and fsynced before the 451 goes out, replayed (and compacted) on start-up so
 * it survives a restart. One process owns it: instances that must share a
 * ledger share a Redis store instead.
 */
export class FileLedger implements DeliveryLedger {
  private constructor(
    private readonly file: FileHandle,
    private readonly entries: Map<string, { recipients: Set<string>; at: number }>,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  static async open(path: string, ttlMs: number, now: () => number = Date.now): Promise<FileLedger> {
    await mkdir(dirname(path), { recursive: true });
    const entries = new Map<string, { recipients: Set<string>; at: number }>();
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const started = now();
    for (const line of text.split('\n')) {
      if (!line) continue;
      let entry: LedgerLine;
      try {
        entry = JSON.parse(line) as LedgerLine;
      } catch {
        continue; // a torn last line from a crash mid-append: that append was never acknowledged
      }
      if (entry.clear) entries.delete(entry.d);
      else if (entry.r && started - entry.t < ttlMs) {
        const known = entries.get(entry.d) ?? { recipients: new Set<string>(), at: entry.t };
        for (const r of entry.r) known.recipients.add(r);
        entries.set(entry.d, known);
      }
    }
    // Compact: rewrite only what is still live, atomically.
    const compacted = [...entries].map(([d, e]) => JSON.stringify({ d, r: [...e.recipients], t: e.at }) + '\n').join('');
    // Several processes may open one store directory (claims are safe across them): each compacts through its own temporary file.
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const tmpFile = await open(tmp, 'w');
    await tmpFile.writeFile(compacted);
    await tmpFile.sync();
    await tmpFile.close();
    await rename(tmp, path);
    return new FileLedger(await open(path, 'a'), entries, ttlMs, now);
  }

  get mayHoldEntries(): boolean {
    return this.entries.size > 0;
  }

  async acceptedRecipients(digest: string): Promise<ReadonlySet<string>> {
    const entry = this.entries.get(digest);
    if (!entry) return NONE;
    // Past store.ledgerHours a retry is a new message: send it whole.
    if (this.now() - entry.at >= this.ttlMs) {
      this.entries.delete(digest);
      return NONE;
    }
    return entry.recipients;
  }

  async recordAccepted(digest: string, recipients: readonly string[]): Promise<void> {
    if (recipients.length === 0) return;
    const at = this.now();
    const known = this.entries.get(digest) ?? { recipients: new Set<string>(), at };
    for (const r of recipients) known.recipients.add(r.toLowerCase());
    this.entries.set(digest, known);
    await this.file.appendFile(JSON.stringify({ d: digest, r: recipients.map((r) => r.toLowerCase()), t: at }) + '\n');
    await this.file.datasync();
  }

  /** Not fsynced: losing it only keeps a stale entry until its TTL. */
  async forget(digest: string): Promise<void> {
    if (!this.entries.delete(digest)) return;
    await this.file.appendFile(JSON.stringify({ d: digest, clear: true, t: this.now() }) + '\n');
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
