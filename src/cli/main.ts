#!/usr/bin/env node
import { Command, Option } from 'commander';
import { ConfigError, loadConfigFile, resolveConfigPath } from '../config/load.js';
import { registerAuditCommands } from './audit-command.js';
import { registerBreakerCommands } from './breaker-command.js';
import { registerHashPasswordCommand } from './hash-password-command.js';
import { registerQuarantineCommands } from './quarantine-command.js';
import { registerReloadCommand } from './reload-command.js';
import { registerReportCommand } from './report-command.js';
import { registerTokenCommands } from './token-command.js';

const program = new Command('mail-guard')
  .description('Outbound SMTP proxy that stops messages exposing external recipients to each other')
  .showHelpAfterError();

const configOption = () => new Option('-c, --config <file>', 'config file (default: $MAIL_GUARD_CONFIG or config/mail-guard.yaml)');

program
  .command('serve')
  .description('run the SMTP proxy and the admin HTTP server')
  .addOption(configOption())
  .action(async (opts: { config?: string }) => {
    const path = resolveConfigPath(opts.config);
    // Loaded on demand: `quarantine` and `config check` should not pay for the proxy's imports.
    const { runServe } = await import('./serve-command.js');
    await runServe(loadConfigFile(path), path);
  });

program
  .command('check')
  .description('offline verdict for message files; exit 0 all pass, 1 any violation, 2 error')
  .addOption(configOption())
  .option('--json', 'print the verdicts as JSON')
  .option('--from <address>', 'envelope sender to assume')
  .option('--rcpt <address>', 'envelope recipient to assume (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .argument('<files...>', '.eml files')
  .action(async (files: string[], opts: { config?: string; json?: boolean; from?: string; rcpt: string[] }) => {
    const config = loadConfigFile(resolveConfigPath(opts.config));
    const { runCheck } = await import('./check-command.js');
    process.exitCode = await runCheck(config, files, { json: opts.json === true, mailFrom: opts.from, rcptTo: opts.rcpt });
  });

const configCommand = program.command('config').description('work with the config file');
configCommand
  .command('check')
  .description('validate a config and print the effective one, secrets masked')
  .addOption(configOption())
  .action(async (opts: { config?: string }) => {
    // The schema (with its checks across keys) and the files the config names: no listener is built.
    const { runConfigCheck } = await import('./config-check-command.js');
    runConfigCheck(resolveConfigPath(opts.config));
  });

registerQuarantineCommands(program);
registerBreakerCommands(program);
registerReportCommand(program);
registerTokenCommands(program);
registerHashPasswordCommand(program);
registerAuditCommands(program, configOption);
registerReloadCommand(program, configOption);

program.parseAsync(process.argv).catch((err: unknown) => {
  // A bad config or an unusable setting: one line that names the key, exit 2.
  if (err instanceof ConfigError) {
    process.stderr.write(`mail-guard: ${err.message}\n`);
  } else {
    process.stderr.write(`mail-guard: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(2);
});
