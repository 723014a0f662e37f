// Held and captured mail reaches the store before the mailer hears 250, and
// stays there across restarts and store outages.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openFileStore } from '../../src/store/file-store.js';
import { crlf } from '../helpers/crlf.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard } from '../helpers/start-mail-guard.js';

const exposing = crlf(
  'From: news@example.co.jp',
  'To: a@ext1.com, b@ext2.com, c@ext3.com',
  'Subject: Monthly news',
  'Message-ID: <m1@example.co.jp>',
  '',
  'hello',
  '',
);
const envelope = ['a@ext1.com', 'b@ext2.com', 'c@ext3.com'];
const heldId = (reply: string) => /^250 2\.0\.0 held for review ([0-9A-Z]{26})$/.exec(reply)?.[1];

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function upstream(options: Parameters<typeof startRecordingUpstream>[0] = {}): Promise<RecordingUpstream> {
  const u = await startRecordingUpstream(options);
  cleanups.push(() => u.close());
  return u;
}

describe('quarantine on the file store', () => {
  it('holds the message durably, answers 250 held for review <id>, sends nothing, and keeps it across a restart', async () => {
    const relay = await upstream();
    const config = {
      upstream: { host: '127.0.0.1', port: relay.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { action: 'quarantine' },
    };
    const first = await startMailGuard(config);
    const result = await sendOnce(first.smtpPort, 'news@example.co.jp', envelope, exposing);
    const id = heldId(result.final);
    expect(id).toBeDefined();
    expect(relay.transactions).toBe(0);
    await first.stop();

    const second = await startMailGuard(config, first.storePath);
    cleanups.push(() => second.stop());
    const store = await openFileStore(second.storePath);
    cleanups.push(() => store.close());
    const record = await store.get(id!);
    expect(record).toMatchObject({
      id,
      status: 'held',
      envelope: { mailFrom: 'news@example.co.jp', rcptTo: envelope },
      subject: 'Monthly news',
      messageId: '<m1@example.co.jp>',
      verdict: { action: 'quarantine', violation: true, rule: 'default' },
      analysis: { exposedExternalCount: 3, exposingHeaders: ['To'] },
    });
    expect(record!.history[0]).toMatchObject({ actor: 'mail-guard', action: 'held' });
    expect((await store.raw(id!))!.toString()).toBe(exposing);
  });

  it('keeps split copies the upstream refused for good as failed records with its reply', async () => {
    const relay = await upstream({ rcptReply: (a) => (a === 'b@ext2.com' ? { code: 550, message: '5.1.1 no such user' } : undefined) });
    const guard = await startMailGuard({
      upstream: { host: '127.0.0.1', port: relay.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { action: 'split' },
    });
    cleanups.push(() => guard.stop());
    const result = await sendOnce(guard.smtpPort, 'news@example.co.jp', envelope, exposing);
    expect(result.final).toMatch(/^250 2\.0\.0 2 of 3 copies accepted upstream, one per recipient; 1 refused permanently and kept for review/);
    const store = await openFileStore(guard.storePath);
    cleanups.push(() => store.close());
    const { records } = await store.list({ status: 'failed', limit: 10 });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ status: 'failed', envelope: { rcptTo: ['b@ext2.com'] }, failure: { recipient: 'b@ext2.com', code: 550 } });
    const raw = (await store.raw(records[0]!.id))!.toString();
    expect(raw).toContain('\r\nTo: <b@ext2.com>\r\n');
    expect(raw).not.toContain('a@ext1.com');
  });
});

const redis = await startRedisServer();

describe.skipIf(!redis)('quarantine on Redis', () => {
  it('holds in Redis; with Redis gone the mailer gets 451 4.3.0 and nothing is relayed', async () => {
    const relay = await upstream();
    const guard = await startMailGuard({
      upstream: { host: '127.0.0.1', port: relay.port, requireTLS: false },
      internalDomains: ['example.co.jp'],
      policy: { action: 'quarantine' },
      store: { type: 'redis', url: redis!.url },
    });
    cleanups.push(() => guard.stop());
    expect(heldId((await sendOnce(guard.smtpPort, 'news@example.co.jp', envelope, exposing)).final)).toBeDefined();

    await redis!.kill();
    const down = await sendOnce(guard.smtpPort, 'news@example.co.jp', envelope, exposing);
    expect(down.final).toMatch(/^451 4\.3\.0 /);
    expect(relay.transactions).toBe(0);
    await redis!.restart();
  });
});

afterAll(async () => {
  await redis?.stop();
});
