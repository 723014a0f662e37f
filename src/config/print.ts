import { stringify } from 'yaml';
import type { MailGuardConfig } from './schema.js';

const SECRET_KEYS = new Set(['pass', 'password', 'passwordHash', 'tokenSha256', 'sessionSecret', 'sentinelPassword']);

/** The effective config as YAML, with every secret replaced by a mask. */
export function printableConfig(config: MailGuardConfig): string {
  return stringify(maskSecrets(config), { lineWidth: 0 });
}

function maskSecrets(value: unknown, key?: string): unknown {
  if (key && SECRET_KEYS.has(key) && typeof value === 'string') return '********';
  if (key === 'url' && typeof value === 'string') return maskUrl(value);
  if (Array.isArray(value)) return value.map((item) => maskSecrets(item));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, k)]));
  }
  return value;
}

/**
 * A password in a URL is masked; so is the path and query of a webhook URL,
 * which for Slack-style webhooks is the secret itself (anyone holding it can post).
 */
function maskUrl(url: string): string {
  const withoutPassword = url.replace(/\/\/([^@/]*):([^@/]*)@/, '//$1:********@');
  const web = /^(https?:\/\/[^/?#]+)([/?#].*)?$/i.exec(withoutPassword);
  return web && web[2] && web[2] !== '/' ? `${web[1]}/********` : withoutPassword;
}
