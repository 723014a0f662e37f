import { createHash, randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { parseConfigText } from '../config/load.js';

// `mail-guard token create --name N --role R`: a new admin token, shown once,
// and the config line that lets it in. The config keeps only the token's
// SHA-256 (admin/auth.ts), so nobody, mail-guard included, can show it again.

const ROLES = ['reviewer', 'approver'] as const;
type Role = (typeof ROLES)[number];
/** A name that reads the same in history, logs and the audit log, and pastes into YAML without surprises. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export interface NewToken {
  readonly token: string;
  readonly tokenSha256: string;
  /** The line for admin.tokens, as it goes into the config. */
  readonly yamlLine: string;
}

export function createToken(name: string, role: Role): NewToken {
  // 256 bits: not guessable, not worth brute-forcing against the stored hash.
  const token = randomBytes(32).toString('base64url');
  const tokenSha256 = createHash('sha256').update(token, 'utf8').digest('hex');
  // A name YAML would read as something else (true, null, 123, 1e3) is quoted.
  const yamlName = parse(name) === name ? name : JSON.stringify(name);
  const yamlLine = `- { name: ${yamlName}, tokenSha256: ${tokenSha256}, role: ${role} }`;
  // The line must be what the config accepts, exactly: read it back the way serve would.
  const [entry] = parseConfigText(`admin:\n  tokens:\n    ${yamlLine}\n`, 'the new token line').admin.tokens;
  if (entry?.name !== name || entry.tokenSha256 !== tokenSha256 || entry.role !== role) throw new Error('the token line does not read back as written');
  return { token, tokenSha256, yamlLine };
}

function refuse(message: string): number {
  process.stderr.write(`mail-guard: ${message}\n`);
  return 2;
}

export function runTokenCreate(opts: { name?: string; role?: string }): number {
  if (opts.name === undefined || !NAME.test(opts.name)) {
    return refuse(
      `--name ${opts.name === undefined ? 'is required' : JSON.stringify(opts.name)}: use 1 to 64 letters, digits and . _ @ - (starting with a letter or digit), e.g. ops-alice`,
    );
  }
  if (!ROLES.includes(opts.role as Role)) {
    return refuse(
      `--role ${opts.role === undefined ? 'is required' : JSON.stringify(opts.role)}: use reviewer (list, approve, discard, release as bcc/split) or approver (also release as original)`,
    );
  }
  const { name, role } = opts as { name: string; role: Role };
  const { token, yamlLine } = createToken(name, role);
  process.stdout.write(
    [
      `Token for ${name} (${role}). It is shown only now and cannot be shown again: the config keeps only its SHA-256.`,
      '',
      `  ${token}`,
      '',
      'Add this line under admin.tokens in the config, then reload mail-guard (mail-guard reload, or systemctl reload mail-guard):',
      '',
      `    ${yamlLine}`,
      '',
      'Use it as MAIL_GUARD_TOKEN (or --token) with mail-guard quarantine and report, or as Authorization: Bearer <token> for the admin API.',
      '',
    ].join('\n'),
  );
  return 0;
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('admin API tokens');
  token
    .command('create')
    .description('print a new admin token once, and the admin.tokens config line for it')
    // Checked by runTokenCreate rather than commander, so a missing one exits 2 like a bad one.
    .option('--name <name>', 'required: who uses it, as history and the audit log will name them (e.g. ops-alice)')
    .option('--role <role>', 'required: reviewer | approver')
    .action((opts: { name?: string; role?: string }) => {
      process.exitCode = runTokenCreate(opts);
    });
}
