import { stringify } from 'yaml';
import type { MailGuardConfig } from './schema.js';

const SECRET_KEYS = new Set(['pass', 'password', 'passwordHash', 'tokenSha256', 'sessionSecret']);

/** The effective config as YAML, with every secret replaced by a mask. */
export function printableConfig(config: MailGuardConfig): string {
  return stringify(maskSecrets(config), { lineWidth: 0 });
}

function maskSecrets(value: unknown, key?: string): unknown {
  if (key && SECRET_KEYS.has(key) && typeof value === 'string') return '********';
  if (key === 'url' && typeof value === 'string') return value.replace(/\/\/([^@/]*):([^@/]*)@/, '//$1:********@');
  if (Array.isArray(value)) return value.map((item) => maskSecrets(item));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, k)]));
  }
  return value;
}
