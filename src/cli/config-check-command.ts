// `mail-guard config check`: the config schema (every key and every check across
// keys, config/schema.ts) plus the checks that need I/O, the files the config
// names. No listener, pool or store is built.

import { loadConfigFile } from '../config/load.js';
import { printableConfig } from '../config/print.js';
import type { MailGuardConfig } from '../config/schema.js';
import { readTlsPair } from '../smtp/smtp-tls.js';
import { upstreamTlsOptions } from '../upstream/upstream-tls.js';

/** Reads every file the config names as serve would (smtp.tls, admin.tls, upstream.tls.ca); ConfigError naming the key otherwise. */
export function checkConfigFiles(config: MailGuardConfig): void {
  if (config.smtp.tls) readTlsPair('smtp.tls', config.smtp.tls);
  if (config.admin.tls) readTlsPair('admin.tls', config.admin.tls);
  if (config.upstream) upstreamTlsOptions(config.upstream);
}

/** Validates the config at `path` and prints the effective one, secrets masked. Throws ConfigError. */
export function runConfigCheck(path: string): void {
  const config = loadConfigFile(path);
  checkConfigFiles(config);
  process.stdout.write(`# ${path}: valid\n${printableConfig(config)}`);
}
