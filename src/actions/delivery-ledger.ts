import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

const DEFAULT_TTL_MS = 7 * 24 * 3600 * 1000;

interface LedgerLine {
  d: string;
  r?: string[];
  clear?: true;
  t: number;
}

/**
 * Remembers which recipients already got a copy of a message when the mailer was
 * told 451, so its retry sends only the rest. Written only on that partial path
 * (never on the hot path of a clean delivery), appended and fsynced before the
 * 451 goes out, replayed on start-up so it survives a restart.
 */
export class DeliveryLedger {
  private constructor(
    private readonly file: FileHandle,
    private readonly entries: Map<string, { recipients: Set<string>; at: number }>,
  ) {}

  static digest(mailFrom: string, message: Buffer | readonly Buffer[]): string {
    const hash = createHash('sha256').update(mailFrom).update('\0');
    for (const chunk of Buffer.isBuffer(message) ? [message] : message) hash.update(chunk);
    return hash.digest('hex');
  }

  static async open(path: string, now = Date.now(), ttlMs = DEFAULT_TTL_MS): Promise<DeliveryLedger> {
    await mkdir(dirname(path), { recursive: true });
    const entries = new Map<string, { recipients: Set<string>; at: number }>();
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let entry: LedgerLine;
      try {
        entry = JSON.parse(line) as LedgerLine;
      } catch {
        continue; // a torn last line from a crash mid-append: that append was never acknowledged
      }
      if (entry.clear) entries.delete(entry.d);
      else if (entry.r && now - entry.t < ttlMs) {
        const known = entries.get(entry.d) ?? { recipients: new Set<string>(), at: entry.t };
        for (const r of entry.r) known.recipients.add(r);
        entries.set(entry.d, known);
      }
    }
    // Compact: rewrite only what is still live, atomically.
    const compacted = [...entries].map(([d, e]) => JSON.stringify({ d, r: [...e.recipients], t: e.at }) + '\n').join('');
    const tmp = `${path}.tmp`;
    const tmpFile = await open(tmp, 'w');
    await tmpFile.writeFile(compacted);
    await tmpFile.sync();
    await tmpFile.close();
    await rename(tmp, path);
    return new DeliveryLedger(await open(path, 'a'), entries);
  }

  get size(): number {
    return this.entries.size;
  }

  acceptedRecipients(digest: string): ReadonlySet<string> | undefined {
    return this.entries.get(digest)?.recipients;
  }

  async recordAccepted(digest: string, recipients: readonly string[], now = Date.now()): Promise<void> {
    if (recipients.length === 0) return;
    const known = this.entries.get(digest) ?? { recipients: new Set<string>(), at: now };
    for (const r of recipients) known.recipients.add(r.toLowerCase());
    this.entries.set(digest, known);
    await this.file.appendFile(JSON.stringify({ d: digest, r: recipients.map((r) => r.toLowerCase()), t: now }) + '\n');
    await this.file.datasync();
  }

  /** The retry completed: the entry is no longer needed. Not fsynced: losing it only keeps a stale entry until its TTL. */
  async forget(digest: string, now = Date.now()): Promise<void> {
    if (!this.entries.delete(digest)) return;
    await this.file.appendFile(JSON.stringify({ d: digest, clear: true, t: now }) + '\n');
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
