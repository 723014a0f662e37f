// deploy/compose.yaml and the files it mounts. No Docker engine runs here, so the
// stack is validated, never started: the facts the README promises are read from
// the files, the real validators (docker-compose config, promtool check config,
// amtool check-config) read them too (skipped without those tools unless
// MAIL_GUARD_REQUIRE_COMPOSE=1, as CI sets), and the path a message takes through
// the stack is run without containers: the deploy config served by dist/ against a
// real redis-server and the demo sink on free loopback ports.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findExecutable } from '../helpers/find-executable.js';
import { ALERTS, DASHBOARD, ROOT, read } from '../helpers/monitoring-files.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { killServed, serveProcess } from '../helpers/serve-process.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startDemoSink } from '../helpers/demo-sink.js';

const COMPOSE = 'deploy/compose.yaml';
const PROMETHEUS = 'deploy/prometheus/prometheus.yml';
const ALERTMANAGER = 'deploy/alertmanager/alertmanager.yml';
const CONFIG_TARGET = '/etc/mail-guard/mail-guard.yaml';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  networks: { default: { ipam: { config: { subnet: string }[] } } };
}

// The compose file shares the mail-guard settings through YAML merge keys (<<:).
const yamlFile = <T>(path: string): T => parse(read(path), { merge: true }) as T;
const compose = yamlFile<Compose>(COMPOSE);
const services = compose.services;

/** A service's volumes as { source, target }; bind sources resolved against deploy/ like compose does. */
function mounts(service: Service): { source: string; target: string; bind: boolean }[] {
  return (service.volumes ?? []).map((v) => {
    const [source = '', target = ''] = v.split(':');
    const bind = source.startsWith('.') || source.startsWith('/');
    return { source: bind ? resolve(ROOT, 'deploy', source) : source, target, bind };
  });
}
const mountOf = (service: Service, repoPath: string) => mounts(service).find((m) => m.source === resolve(ROOT, repoPath));

const guardNames = Object.keys(services).filter((name) => mounts(services[name]!).some((m) => m.target === CONFIG_TARGET));
const guardConfigPath = (name: string) => mounts(services[name]!).find((m) => m.target === CONFIG_TARGET)!.source;
interface GuardConfig {
  smtp: { host: string; port: number; allowFrom: string[] };
  admin: { host: string; port: number; tokens: unknown[] };
  upstream: { host: string; port: number };
  store: { type: string; url: string; path: string };
}
const guardConfig = (name: string) => parse(read(guardConfigPath(name).slice(ROOT.length))) as GuardConfig;

describe(`${COMPOSE}: what the stack is made of`, () => {
  it('two mail-guard instances built from the repository Dockerfile, each with its own config from deploy/mail-guard/ and its own host ports', () => {
    expect(guardNames).toEqual(['mail-guard-a', 'mail-guard-b']);
    for (const name of guardNames) {
      const service = services[name]!;
      expect(service.build).toEqual({ context: '..', dockerfile: 'Dockerfile' });
      expect(guardConfigPath(name)).toBe(resolve(ROOT, `deploy/mail-guard/${name}.yaml`));
      // The image's HEALTHCHECK (/healthz, liveness) stays: no override on /readyz.
      expect(service.healthcheck).toBeUndefined();
      expect(service.entrypoint).toBeUndefined();
      // compose's SIGKILL must come after mail-guard's own drain (shutdownGraceSeconds, default 30).
      const shutdownGrace = (guardConfig(name) as { shutdownGraceSeconds?: number }).shutdownGraceSeconds ?? 30;
      expect(Number(/^(\d+)s$/.exec(service.stop_grace_period ?? '')?.[1])).toBeGreaterThan(shutdownGrace);
    }
    const hostPorts = guardNames.flatMap((name) => services[name]!.ports!.map((p) => p.split(':').slice(0, 2).join(':')));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    // Published on loopback only: the demo has a public admin token and no SMTP AUTH.
    for (const p of hostPorts) expect(p).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('one Redis with AOF on and noeviction, on a named volume, with a redis-cli ping health check', () => {
    const redis = services['redis']!;
    const command = redis.command!;
    const value = (flag: string) => command[command.indexOf(flag) + 1];
    expect(command[0]).toBe('redis-server');
    expect(value('--appendonly')).toBe('yes');
    expect(value('--maxmemory-policy')).toBe('noeviction');
    const data = mounts(redis).find((m) => m.target === '/data')!;
    expect(data.bind).toBe(false);
    expect(Object.keys(compose.volumes ?? {})).toContain(data.source);
    expect(redis.healthcheck!.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('each instance starts once Redis and the sink are healthy, and its config points at them', () => {
    const subnet = compose.networks.default.ipam.config[0]!.subnet;
    for (const name of guardNames) {
      expect(services[name]!.depends_on).toEqual({ redis: { condition: 'service_healthy' }, 'demo-sink': { condition: 'service_healthy' } });
      const config = guardConfig(name);
      expect(config.store.type).toBe('redis');
      expect(new URL(config.store.url).hostname).toBe('redis');
      expect(config.upstream.host).toBe('demo-sink');
      expect(config.upstream.port).toBe(2525); // the sink's SINK_SMTP_PORT default
      expect(config.smtp.host).toBe('0.0.0.0');
      expect(config.admin.host).toBe('0.0.0.0');
      expect(config.admin.tokens.length).toBeGreaterThan(0);
      // The published port arrives from the compose network's gateway: allowFrom names the network.
      expect(config.smtp.allowFrom).toContain(subnet);
    }
    expect(services['demo-sink']!.entrypoint).toEqual(['node', '/app/demo-sink/sink.mjs']);
    expect(mountOf(services['demo-sink']!, 'deploy/demo-sink')?.target).toBe('/app/demo-sink');
  });

  it('every file the stack mounts exists in the repository', () => {
    const binds = Object.values(services).flatMap((s) => mounts(s).filter((m) => m.bind));
    expect(binds.length).toBeGreaterThanOrEqual(8);
    for (const m of binds) expect(existsSync(m.source), m.source).toBe(true);
  });

  it.each(['mail-guard-a', 'mail-guard-b'])('deploy/mail-guard/%s.yaml passes the real `mail-guard config check` (Redis need not resolve)', async (name) => {
    const { code, output } = await run(process.execPath, [resolve(ROOT, 'dist/cli/main.js'), 'config', 'check', '-c', guardConfigPath(name)]);
    expect(code, output).toBe(0);
    expect(output).toContain(': valid');
    expect(output).toContain('url: redis://redis:6379');
  });
});

describe(`${PROMETHEUS}, Alertmanager and Grafana`, () => {
  interface PromConfig {
    rule_files: string[];
    alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
  }
  const prometheus = yamlFile<PromConfig>(PROMETHEUS);
  const service = services['prometheus']!;

  it('one job named mail-guard (the alerts select job="mail-guard") scrapes both instances on their admin port', () => {
    const job = prometheus.scrape_configs.find((j) => j.job_name === 'mail-guard')!;
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    const targets = job.static_configs.flatMap((s) => s.targets).sort();
    expect(targets).toEqual(guardNames.map((name) => `${name}:${guardConfig(name).admin.port}`).sort());
    expect(prometheus.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((s) => s.targets))).toEqual(['alertmanager:9093']);
  });

  it("the rule file is the repository's alerts.yml, in the container and for promtool in CI alike", () => {
    expect(prometheus.rule_files).toHaveLength(1);
    const rules = prometheus.rule_files[0]!;
    // promtool resolves it against the config file's directory in the repository…
    expect(resolve(ROOT, dirname(PROMETHEUS), rules)).toBe(resolve(ROOT, ALERTS));
    // …and Prometheus against the config file's place in the container, where compose mounts the same alerts.yml.
    const configTarget = mountOf(service, PROMETHEUS)!.target;
    expect(service.command).toContain(`--config.file=${configTarget}`);
    expect(posix.resolve(posix.dirname(configTarget), rules)).toBe(mountOf(service, ALERTS)!.target);
  });

  it('Alertmanager sends every alert to the example receiver, the demo sink', () => {
    const am = yamlFile<{ route: { receiver: string }; receivers: { name: string; webhook_configs: { url: string }[] }[] }>(ALERTMANAGER);
    const receiver = am.receivers.find((r) => r.name === am.route.receiver)!;
    expect(receiver.webhook_configs.map((w) => w.url)).toEqual(['http://demo-sink:8025/alerts']); // SINK_HTTP_PORT default
    expect(mountOf(services['alertmanager']!, ALERTMANAGER)?.target).toBe('/etc/alertmanager/alertmanager.yml');
  });

  it('Grafana provisions the Prometheus data source the dashboard selects and the dashboard file itself', () => {
    const grafana = services['grafana']!;
    for (const kind of ['datasources', 'dashboards']) {
      expect(mountOf(grafana, `deploy/grafana/provisioning/${kind}`)?.target).toBe(`/etc/grafana/provisioning/${kind}`);
    }
    const ds = yamlFile<{ datasources: { type: string; uid: string; url: string; isDefault: boolean }[] }>(
      'deploy/grafana/provisioning/datasources/prometheus.yaml',
    ).datasources;
    expect(ds).toHaveLength(1);
    expect(ds[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    // The dashboard's panels use the ${datasource} variable, which lists data sources of type prometheus and starts on the default.
    const dashboard = JSON.parse(read(DASHBOARD)) as { templating: { list: { type: string; name: string; query: string }[] } };
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource')!;
    expect(variable).toMatchObject({ name: 'datasource', query: ds[0]!.type });
    const uids = [...read(DASHBOARD).matchAll(/"uid":\s*"([^"]*)"/g)].map((m) => m[1]).filter((uid) => uid !== 'mail-guard' && uid !== '-- Grafana --'); // the dashboard's own and the built-in annotations
    expect(uids.length).toBeGreaterThan(10);
    expect(new Set(uids)).toEqual(new Set(['${datasource}']));
    const providers = yamlFile<{ providers: { type: string; options: { path: string } }[] }>(
      'deploy/grafana/provisioning/dashboards/mail-guard.yaml',
    ).providers;
    expect(providers).toHaveLength(1);
    expect(providers[0]!.type).toBe('file');
    expect(posix.dirname(mountOf(grafana, DASHBOARD)!.target)).toBe(providers[0]!.options.path);
  });
});

// The real validators.
const required = process.env['MAIL_GUARD_REQUIRE_COMPOSE'] === '1';
const tools = {
  'docker-compose': findExecutable('docker-compose', 'MAIL_GUARD_DOCKER_COMPOSE'),
  promtool: findExecutable('promtool', 'MAIL_GUARD_PROMTOOL'),
  amtool: findExecutable('amtool', 'MAIL_GUARD_AMTOOL'),
};
const missing = Object.keys(tools).filter((t) => !tools[t as keyof typeof tools]);
const skipValidators = missing.length > 0 && !required;
if (skipValidators) {
  process.stderr.write(
    `\n*** SKIPPING compose stack validators: ${missing.join(', ')} not found; apt-get install docker-compose prometheus prometheus-alertmanager (stop the daemons they start) ***\n\n`,
  );
}

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', fail);
    child.once('close', (code) => done({ code, output }));
  });
}
async function expectTool(tool: keyof typeof tools, args: string[]): Promise<string> {
  const path = tools[tool];
  if (!path) throw new Error(`MAIL_GUARD_REQUIRE_COMPOSE=1 but ${tool} was not found on PATH`);
  const { code, output } = await run(path, args);
  expect(code, `${tool} ${args.join(' ')} exited ${code}:\n${output}`).toBe(0);
  return output;
}

describe.skipIf(skipValidators)('the stack, validated by the real tools', () => {
  it(`docker-compose -f ${COMPOSE} config -q`, async () => {
    await expectTool('docker-compose', ['-f', COMPOSE, 'config', '-q']);
  });

  it(`promtool check config ${PROMETHEUS} (and the rule file it names)`, async () => {
    const output = await expectTool('promtool', ['check', 'config', PROMETHEUS]);
    expect(output).toContain(`Checking ${ALERTS}`);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it(`amtool check-config ${ALERTMANAGER}`, async () => {
    const output = await expectTool('amtool', ['check-config', ALERTMANAGER]);
    expect(output).toContain('1 receivers');
  });
});

// The path of a message through the stack, without containers.
const redis = await startRedisServer();
afterAll(async () => {
  await redis?.stop();
});
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  killServed();
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.skipIf(!redis)('the path through the stack: deploy/mail-guard config, Redis, the demo sink', () => {
  it('a clean message reaches the sink, which logs it without addresses; an exposing one is held; an alert arrives at the webhook', async () => {
    const sink = await startDemoSink();
    cleanups.push(() => sink.stop());
    const dir = await mkdtemp(join(tmpdir(), 'mail-guard-compose-path-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // The deploy config as it is, but for what the containers' network provides: names and fixed ports.
    const { smtp, admin, upstream, store, ...rest } = guardConfig('mail-guard-a') as unknown as Record<string, Record<string, unknown>>;
    const { host: _sh, port: _sp, ...smtpKept } = smtp!;
    const { host: _ah, port: _ap, ...adminKept } = admin!;
    const guard = await serveProcess(dir, {
      ...rest,
      smtp: smtpKept,
      admin: adminKept,
      upstream: { ...upstream, host: '127.0.0.1', port: sink.smtp },
      store: { ...store, url: redis!.url, path: join(dir, 'store') },
    });

    const clean = ['From: alice@example.co.jp', 'To: bob@partner.example', 'Subject: hello', '', 'hi', ''].join('\r\n');
    const relayed = await sendOnce(guard.smtpPort, 'alice@example.co.jp', ['bob@partner.example'], clean);
    expect(relayed.final).toMatch(/^250 .*accepted by the demo sink as sink-1/);
    const line = await sink.next('message');
    expect(line).toMatchObject({ id: 'sink-1', recipients: 1 });
    expect(line['bytes']).toBe(clean.length); // a faithful hop: the bytes the mailer sent

    const exposing = ['From: alice@example.co.jp', 'To: bob@partner.example, carol@other.example', 'Subject: hello all', '', 'hi', ''].join('\r\n');
    const held = await sendOnce(guard.smtpPort, 'alice@example.co.jp', ['bob@partner.example', 'carol@other.example'], exposing);
    expect(held.final).toMatch(/^250 2\.0\.0 held for review /);

    const alert = { alerts: [{ status: 'firing', labels: { alertname: 'MailGuardLeaking', instance: 'mail-guard-a:9025' } }] };
    const posted = await fetch(`http://127.0.0.1:${sink.http}/alerts`, { method: 'POST', body: JSON.stringify(alert) });
    expect(posted.status).toBe(200);
    expect(await sink.next('alert')).toMatchObject({ alertname: 'MailGuardLeaking', status: 'firing', instance: 'mail-guard-a:9025' });

    // One line per message, and no address in any of them.
    expect(sink.lines.filter((l) => l['event'] === 'message')).toHaveLength(1);
    expect(JSON.stringify(sink.lines)).not.toMatch(/@/);
  });
});
