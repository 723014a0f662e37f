import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

export type FileContent = Buffer | readonly Buffer[] | string;

export async function writeFileSynced(path: string, content: FileContent): Promise<void> {
  const file = await open(path, 'wx');
  try {
    for (const chunk of typeof content === 'string' ? [Buffer.from(content)] : Buffer.isBuffer(content) ? [content] : content) {
      // write() may take fewer bytes than asked: loop until the chunk is all down.
      for (let offset = 0; offset < chunk.length;) offset += (await file.write(chunk, offset)).bytesWritten;
    }
    await file.sync();
  } finally {
    await file.close();
  }
}

export async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

const HOST = hostname().replace(/[^A-Za-z0-9-]/g, '_');

/**
 * A temp name that says who is writing it, so a store opened by another
 * process can tell a crashed writer's leftovers from a live writer's work:
 * `<id>.<host>.<pid>.<random>`.
 */
export function tempName(id: string): string {
  return `${id}.${HOST}.${process.pid}.${randomBytes(4).toString('hex')}`;
}

/** The writer of a temp entry, if its name says so. */
export function tempOwner(name: string): { host: string; pid: number } | null {
  const parts = name.split('.');
  if (parts.length !== 4) return null;
  const pid = Number(parts[2]);
  return Number.isSafeInteger(pid) && pid > 0 ? { host: parts[1]!, pid } : null;
}

export const THIS_HOST = HOST;

/**
 * Replaces one file so a reader sees the old content or the new, never a mix:
 * write a sibling temp file, fsync it, rename it over the target, fsync the
 * directory so the rename survives a power cut.
 */
export async function replaceFileAtomically(dir: string, name: string, content: FileContent): Promise<void> {
  const tmp = join(dir, `${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFileSynced(tmp, content);
    await rename(tmp, join(dir, name));
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dir);
}

/**
 * Writes a record as one directory of files, visible all at once or not at all:
 * files are written and fsynced under tmp/, the directory is renamed into
 * place, and the parent is fsynced so the rename itself survives a power cut.
 * Only after this returns may the mailer be told 250.
 */
export async function writeRecordDirectory(root: string, id: string, files: Record<string, FileContent>): Promise<string> {
  const tmpRoot = join(root, 'tmp');
  const recordsRoot = join(root, 'records');
  await mkdir(tmpRoot, { recursive: true });
  await mkdir(recordsRoot, { recursive: true });
  const tmpDir = join(tmpRoot, tempName(id));
  await mkdir(tmpDir);
  try {
    for (const [name, content] of Object.entries(files)) await writeFileSynced(join(tmpDir, name), content);
    await syncDirectory(tmpDir);
    const finalDir = join(recordsRoot, id);
    // rename(2) onto an existing non-empty directory fails (ENOTEMPTY/EEXIST),
    // so an id that is already stored is never overwritten.
    await rename(tmpDir, finalDir);
    await syncDirectory(recordsRoot);
    return finalDir;
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}
