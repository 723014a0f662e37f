// What a reload (SIGHUP) may change in a running mail-guard. The listeners, the
// store, the upstream pool and the process layout are built once at start from
// these keys, and swapping them under open sessions is not safe (a new pool
// while transactions hold sessions of the old one, a new store while claims and
// the delivery ledger live in the old one), so they stay as they were until a
// restart. Everything else is read per transaction and swaps whole.

import { createHash } from 'node:crypto';
import { parseConfigObject } from './load.js';
import type { MailGuardConfig } from './schema.js';

/** Dotted keys whose change needs a restart; a whole section when every key of it does. */
export const RESTART_ONLY_KEYS = [
  // The SMTP listener, its TLS, AUTH users and connection caps are built into the ingress.
  'smtp',
  'admin.host',
  'admin.port',
  'admin.tls',
  // A new key would end every console session; a restart does that anyway.
  'admin.sessionSecret',
  'upstream',
  'store',
  'workers',
  'shutdownGraceSeconds',
] as const;

/** The config a process runs: its hash and when it was loaded (ms since the epoch). */
export interface LoadedConfig {
  readonly hash: string;
  readonly loadedAt: number;
}

export interface ReloadPlan {
  /** The config to run: the new file's, with every restart-only key as it runs now. */
  readonly effective: MailGuardConfig;
  /** The restart-only keys the new file changes (kept as they were). */
  readonly needsRestart: readonly string[];
}

/** `source` names the file in a ConfigError, as at start. */
export function planReload(running: MailGuardConfig, next: MailGuardConfig, source = 'the reloaded config'): ReloadPlan {
  const merged = JSON.parse(JSON.stringify(next)) as Record<string, unknown>;
  const needsRestart: string[] = [];
  for (const key of RESTART_ONLY_KEYS) {
    const was = valueAt(running, key);
    if (canonical(was) === canonical(valueAt(next, key))) continue;
    needsRestart.push(key);
    setAt(merged, key, was);
  }
  // Validated again: the checks across keys must hold for the mix of old and new.
  return { effective: needsRestart.length === 0 ? next : parseConfigObject(merged, source), needsRestart };
}

/** sha256 of the effective config (keys sorted), first 12 hex: which config a process runs, for /readyz and the console. */
export function configHash(config: MailGuardConfig): string {
  return createHash('sha256').update(canonical(config)).digest('hex').slice(0, 12);
}

/** JSON with object keys sorted, so equal configs compare and hash alike whatever their key order. */
function canonical(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : v,
    ) ?? 'undefined'
  );
}

function valueAt(config: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), config);
}

function setAt(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!node[part] || typeof node[part] !== 'object') node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = JSON.parse(JSON.stringify(value)) as unknown;
}
