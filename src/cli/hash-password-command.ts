import type { Command } from 'commander';
import { hashPassword } from '../smtp/password-hash.js';

// `mail-guard hash-password`: the password comes on stdin (never argv, which other
// users can read in the process list), the hash for smtp.auth.users[].passwordHash
// goes to stdout. The password is stdin up to the first line break or EOF, so
// `echo -n pw | …`, `echo pw | …` and typing it followed by Enter all work.

const MAX_PASSWORD_BYTES = 1024;

export async function readPassword(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    chunks.push(bytes);
    size += bytes.length;
    const newline = bytes.indexOf(0x0a);
    if (newline >= 0 || size > MAX_PASSWORD_BYTES) break;
  }
  const all = Buffer.concat(chunks);
  const end = all.indexOf(0x0a);
  const line = end >= 0 ? all.subarray(0, end > 0 && all[end - 1] === 0x0d ? end - 1 : end) : all;
  if (line.length > MAX_PASSWORD_BYTES) throw new Error(`password longer than ${MAX_PASSWORD_BYTES} bytes`);
  if (line.length === 0) throw new Error('empty password on stdin (try: echo -n "password" | mail-guard hash-password)');
  return line.toString('utf8');
}

/** Reads the password, writes the hash line; returns the exit code. */
export async function runHashPassword(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, errors: NodeJS.WritableStream): Promise<number> {
  let password: string;
  try {
    password = await readPassword(input);
  } catch (err) {
    errors.write(`mail-guard: ${(err as Error).message}\n`);
    return 2;
  }
  output.write(`${await hashPassword(password)}\n`);
  return 0;
}

export function registerHashPasswordCommand(program: Command): void {
  program
    .command('hash-password')
    .description('read a password from stdin and print its scrypt hash for smtp.auth.users[].passwordHash')
    .action(async () => {
      process.exitCode = await runHashPassword(process.stdin, process.stdout, process.stderr);
      // stdin may still be open (a terminal): do not wait for EOF once the line is read.
      process.stdin.pause();
    });
}
