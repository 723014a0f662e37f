// The soak's mail-guard children (dist/cli/main.js serve): the config each one
// gets, and starting one and waiting for its greeting. Several instances
// (SOAK_INSTANCES) share one store: the file store's directory, or one Redis
// (SOAK_REDIS=sentinel: through the sentinels, see soak-failover.mjs).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, startChild, stopChild, tailFile, waitForGreeting } from './procs.mjs';
import { HOLD_SENDER, DELAY_SENDER } from './soak-client.mjs';
import { SOAK_TLS } from './soak-tls.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const projectDir = path.resolve(here, '..');

/**
 * `store`: the YAML of the store section's value, e.g. `{ type: file, path: "…" }`.
 * `limits`: { maxMessageBytes, sessions, maxPerClient, authUser, delaySeconds, breaker }.
 */
function configYaml({ smtpPort, adminPort, upstreamPort, store, keyFile, certFile, passwordHash, limits }) {
  const { maxMessageBytes, sessions, maxPerClient, authUser, delaySeconds, breaker } = limits;
  return [
    `smtp: { host: 127.0.0.1, port: ${smtpPort}, maxMessageBytes: ${maxMessageBytes}, maxClients: ${sessions * 4}, maxConnectionsPerClient: ${maxPerClient},`,
    `  tls: { key: ${JSON.stringify(keyFile)}, cert: ${JSON.stringify(certFile)} },`,
    // Optional: the plain sessions keep sending unauthenticated, as before.
    `  auth: { required: false, users: [ { name: ${authUser}, passwordHash: ${JSON.stringify(passwordHash)} } ] } }`,
    `admin: { host: 127.0.0.1, port: ${adminPort} }`,
    `upstream: { host: 127.0.0.1, port: ${upstreamPort}, secure: false, requireTLS: false, pool: 8, dataTimeoutSeconds: 2 }`,
    'internalDomains: [example.co.jp]',
    'policy:',
    '  action: split',
    // Issue 12: a sender with breaker.violations violations inside the window is paused (its mail held).
    `  breaker: { violations: ${breaker.violations}, windowSeconds: ${breaker.windowSeconds}, action: quarantine }`,
    '  rules:',
    `    - { name: hold, from: "${HOLD_SENDER}", action: quarantine }`,
    `    - { name: delay, from: "${DELAY_SENDER}", delaySeconds: ${delaySeconds} }`,
    `store: ${store}`,
    'log: { level: warn }',
    '',
  ].join('\n');
}

/** The scrypt hash of `password` as `mail-guard hash-password` makes it (same function, from dist). */
export async function soakPasswordHash(password) {
  const { hashPassword } = await import(pathToFileURL(path.join(projectDir, 'dist', 'smtp', 'password-hash.js')).href);
  return hashPassword(password);
}

/**
 * Starts instance `index` in its own dir under tmpDir. Resolves { ok: true,
 * entry, pid, smtpPort, adminPort, … } once it greets, or { ok: false, reason, logs }.
 */
export async function startMailGuard({ tmpDir, index = 0, upstreamPort, store, passwordHash, limits }) {
  const main = path.join(projectDir, 'dist', 'cli', 'main.js');
  if (!fs.existsSync(main)) return { ok: false, reason: 'dist/cli/main.js does not exist (npm run build)' };
  const dir = path.join(tmpDir, `mail-guard-${index}`);
  fs.mkdirSync(dir, { recursive: true });
  const smtpPort = await freePort();
  const adminPort = await freePort();
  const configFile = path.join(dir, 'mail-guard.yaml');
  const keyFile = path.join(dir, 'smtp-key.pem');
  const certFile = path.join(dir, 'smtp-cert.pem');
  fs.writeFileSync(keyFile, SOAK_TLS.key + '\n', { mode: 0o600 });
  fs.writeFileSync(certFile, SOAK_TLS.cert + '\n');
  fs.writeFileSync(configFile, configYaml({ smtpPort, adminPort, upstreamPort, store, keyFile, certFile, passwordHash, limits }));
  const outFile = path.join(dir, 'mail-guard.stdout');
  const errFile = path.join(dir, 'mail-guard.stderr');
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const env = { ...process.env };
  delete env.MAIL_GUARD_CONFIG;
  const entry = startChild(`mail-guard ${index}`, process.execPath, [main, 'serve', '-c', configFile], { cwd: projectDir, env, stdio: ['ignore', out, err] });
  fs.closeSync(out);
  fs.closeSync(err);
  const logs = (bytes = 3000) => ({ stdout: tailFile(outFile, bytes).trim(), stderr: tailFile(errFile, bytes).trim() });
  const ready = await waitForGreeting(smtpPort, { totalMs: 30000, isDead: () => entry.exited });
  if (!ready.ok) {
    const why = entry.exited ? `exited (code ${entry.code}, signal ${entry.signal})` : `no 220 within 30 s (${ready.error?.message})`;
    await stopChild(entry);
    return { ok: false, reason: `mail-guard ${index} ${why}`, logs };
  }
  return { ok: true, index, entry, pid: entry.child.pid, smtpPort, adminPort, configFile, greeting: ready.line, logs, outFile, errFile };
}
