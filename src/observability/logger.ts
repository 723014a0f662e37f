import { pino, type Logger } from 'pino';
import type { MailGuardConfig } from '../config/schema.js';

export type { Logger };

/**
 * JSON lines on stdout. A terminal gets them as they are; pipe through
 * `npx pino-pretty` (a dev dependency) to read them, so production never loads it.
 */
export function createLogger(config: MailGuardConfig['log'], destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level: config.level,
      base: { svc: 'mail-guard' },
      // Secrets must never reach a log line, even through an error object.
      redact: { paths: ['*.pass', '*.password', '*.token', 'config.upstream.auth'], censor: '********' },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
