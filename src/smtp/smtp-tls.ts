// smtp.tls → the key and certificate of the SMTP listeners (STARTTLS and smtp.tlsPort);
// admin.tls reads its pair the same way.
// The only part of the smtp config that needs I/O to check: the files are read once,
// by the ingress at start-up and by `mail-guard config check`, and a file that cannot
// be read or a pair that does not make a TLS context stops either with one line
// naming the key (as upstream.tls.ca does, upstream/upstream-tls.ts).

import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../config/load.js';
import type { MailGuardConfig } from '../config/schema.js';

type SmtpTlsConfig = NonNullable<MailGuardConfig['smtp']['tls']>;

export interface SmtpTlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
}

/** Reads smtp.tls.key and smtp.tls.cert and checks they make a TLS context; ConfigError naming the key otherwise. */
export function readSmtpTls(tls: SmtpTlsConfig): SmtpTlsMaterial {
  return readTlsPair('smtp.tls', tls);
}

/**
 * A key and certificate named at config key `name` (smtp.tls, admin.tls): both
 * files read and checked to make a TLS context; ConfigError naming the key otherwise.
 */
export function readTlsPair(name: string, tls: { readonly key: string; readonly cert: string }): SmtpTlsMaterial {
  const material = { key: readTlsFile(`${name}.key`, tls.key), cert: readTlsFile(`${name}.cert`, tls.cert) };
  try {
    createSecureContext(material);
  } catch (err) {
    throw new ConfigError(`${name}: ${tls.key} and ${tls.cert} do not make a TLS key and certificate pair (${oneLine(err)})`);
  }
  return material;
}

function readTlsFile(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/[\r\n]+/g, ' ');
}
