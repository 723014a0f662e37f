// An encrypted XLSX is not a ZIP: Office wraps the encrypted package in an OLE
// compound file ([MS-OFFCRYPTO] §2.3.4: the streams EncryptionInfo and
// EncryptedPackage), the same container as a legacy .xls. Telling the two apart
// needs only the directory entry's name, so the directory is found without
// walking the FAT: entries are 128 bytes and sectors (512 or 4096 bytes) start
// at multiples of their size, so every entry starts at a multiple of 128.

const MAGIC = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const HEADER = 512;
const ENTRY = 128;
const STREAM = 2;
const ENCRYPTION_INFO = 'encryptioninfo';

export function isCompoundFile(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER && MAGIC.every((b, i) => bytes[i] === b);
}

/** Whether a directory entry names a stream EncryptionInfo (names compare case-insensitively in CFB). */
export function hasEncryptionInfo(bytes: Uint8Array): boolean {
  // The name length field counts UTF-16 code units with the terminating NUL, in bytes.
  const nameBytes = (ENCRYPTION_INFO.length + 1) * 2;
  for (let at = HEADER; at + ENTRY <= bytes.length; at += ENTRY) {
    if (bytes[at + 64] !== nameBytes || bytes[at + 65] !== 0 || bytes[at + 66] !== STREAM) continue;
    let matches = true;
    for (let i = 0; i < ENCRYPTION_INFO.length && matches; i++) {
      const unit = (bytes[at + 2 * i] ?? 0) | ((bytes[at + 2 * i + 1] ?? 0) << 8);
      matches = String.fromCharCode(unit).toLowerCase() === ENCRYPTION_INFO[i];
    }
    if (matches) return true;
  }
  return false;
}
