import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

async function writeFileSynced(path: string, content: Buffer | readonly Buffer[] | string): Promise<void> {
  const file = await open(path, 'wx');
  try {
    for (const chunk of typeof content === 'string' ? [Buffer.from(content)] : Buffer.isBuffer(content) ? [content] : content) {
      // write() may take fewer bytes than asked: loop until the chunk is all down.
      for (let offset = 0; offset < chunk.length; ) offset += (await file.write(chunk, offset)).bytesWritten;
    }
    await file.sync();
  } finally {
    await file.close();
  }
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * Writes a record as one directory of files, visible all at once or not at all:
 * files are written and fsynced under tmp/, the directory is renamed into
 * place, and the parent is fsynced so the rename itself survives a power cut.
 * Only after this returns may the mailer be told 250.
 */
export async function writeRecordDirectory(root: string, id: string, files: Record<string, Buffer | readonly Buffer[] | string>): Promise<string> {
  const tmpRoot = join(root, 'tmp');
  const recordsRoot = join(root, 'records');
  await mkdir(tmpRoot, { recursive: true });
  await mkdir(recordsRoot, { recursive: true });
  const tmpDir = join(tmpRoot, id);
  await mkdir(tmpDir);
  try {
    for (const [name, content] of Object.entries(files)) await writeFileSynced(join(tmpDir, name), content);
    await syncDirectory(tmpDir);
    const finalDir = join(recordsRoot, id);
    await rename(tmpDir, finalDir);
    await syncDirectory(recordsRoot);
    return finalDir;
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}
