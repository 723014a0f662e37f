import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type MailGuardConfig } from './schema.js';

export const DEFAULT_CONFIG_PATH = 'config/mail-guard.yaml';

/** A config that cannot be used; the message is one line naming the key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function resolveConfigPath(explicit?: string): string {
  return explicit ?? process.env['MAIL_GUARD_CONFIG'] ?? DEFAULT_CONFIG_PATH;
}

export function loadConfigFile(path: string): MailGuardConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseConfigText(text, path);
}

export function parseConfigText(text: string, source = 'config'): MailGuardConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError) {
    throw new ConfigError(`${source}: invalid YAML: ${yamlError.message.split('\n')[0]}`);
  }
  return parseConfigObject(doc.toJS() ?? {}, source);
}

export function parseConfigObject(input: unknown, source = 'config'): MailGuardConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(`${source}: ${describeIssue(result.error.issues[0]!)}`);
  }
  return deepFreeze(result.data);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}`;
  }
  const message = issue.message.replace(/^Invalid input: /, '').replace(/^(expected \w+), received undefined$/, 'required ($1)');
  return `${path || '(top level)'}: ${message}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}
