import { afterEach, describe, expect, it } from 'vitest';
import { crlf } from '../helpers/crlf.js';
import { freePort } from '../helpers/free-port.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../helpers/scripted-upstream.js';
import { sendOnce } from '../helpers/smtp-client.js';
import { startMailGuard, type RunningMailGuard } from '../helpers/start-mail-guard.js';

const clean = crlf('From: app@example.co.jp', 'To: a@ext1.com', 'Subject: s', '', 'body', '');

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function guardFor(port: number, extra: Record<string, unknown> = {}, storePath?: string): Promise<RunningMailGuard> {
  const guard = await startMailGuard(
    {
      upstream: { host: '127.0.0.1', port, requireTLS: false, pool: 2, connectTimeoutSeconds: 2, dataTimeoutSeconds: 1 },
      internalDomains: ['example.co.jp'],
      ...extra,
    },
    storePath,
  );
  stops.push(() => guard.stop());
  return guard;
}
async function scripted(options: Parameters<typeof startScriptedUpstream>[0]): Promise<ScriptedUpstream> {
  const upstream = await startScriptedUpstream(options);
  stops.push(() => upstream.close());
  return upstream;
}
async function recording(options: Parameters<typeof startRecordingUpstream>[0] = {}): Promise<RecordingUpstream> {
  const upstream = await startRecordingUpstream(options);
  stops.push(() => upstream.close());
  return upstream;
}

describe('upstream faults, as the mailer sees them', () => {
  it('connection refused: 451 4.4.1', async () => {
    const guard = await guardFor(await freePort());
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext1.com'], clean)).final).toMatch(/^451 4\.4\.1 /);
  });

  it('421 at the greeting: 451 4.4.1, never passed on as 421', async () => {
    const upstream = await scripted({ greeting: '421 4.3.2 relay busy' });
    const guard = await guardFor(upstream.port);
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext1.com'], clean)).final).toMatch(/^451 4\.4\.1 .*relay busy/);
    expect(upstream.transactions).toBe(0);
  });

  it('4xx after the dot keeps its code and enhanced code', async () => {
    const upstream = await scripted({ afterDot: () => ({ reply: '452 4.3.1 Insufficient system storage' }) });
    const guard = await guardFor(upstream.port);
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext1.com'], clean)).final).toMatch(/^452 4\.3\.1 upstream: Insufficient system storage \[/);
  });

  it('5xx after the dot keeps its code and the upstream text', async () => {
    const upstream = await scripted({ afterDot: () => ({ reply: '554 5.7.1 Message refused by content filter' }) });
    const guard = await guardFor(upstream.port);
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext1.com'], clean)).final).toMatch(
      /^554 5\.7\.1 upstream: Message refused by content filter \[/,
    );
  });

  it('no reply after the dot: 451 4.4.2, the one transaction upstream is not repeated', async () => {
    const upstream = await scripted({ afterDot: () => ({ hang: true }) });
    const guard = await guardFor(upstream.port);
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', ['a@ext1.com'], clean)).final).toMatch(/^451 4\.4\.2 /);
    expect(upstream.transactions).toBe(1);
  });

  it('split with one copy failing temporarily: 451, and the retry (after a restart) sends only the rest', async () => {
    let failedOnce = false;
    const upstream = await recording({
      reply: (tx) => {
        if (tx.rcptTo[0] === 'b@ext2.com' && !failedOnce) {
          failedOnce = true;
          return { code: 451, message: '4.3.0 try again later' };
        }
        return undefined;
      },
    });
    const envelope = ['a@ext1.com', 'b@ext2.com', 'c@ext3.com'];
    const newsletter = crlf('From: news@example.co.jp', `To: ${envelope.join(', ')}`, 'Subject: n', 'Message-ID: <n@example.co.jp>', '', 'hello', '');
    const policy = { policy: { action: 'split' } };
    const first = await guardFor(upstream.port, policy);
    expect((await sendOnce(first.smtpPort, 'news@example.co.jp', envelope, newsletter)).final).toMatch(
      /^451 4\.4\.0 2 of 3 copies were accepted upstream; try again later and only the rest will be sent \[/,
    );
    await first.stop();

    const second = await guardFor(upstream.port, policy, first.storePath);
    expect((await sendOnce(second.smtpPort, 'news@example.co.jp', envelope, newsletter)).final).toMatch(
      /^250 2\.0\.0 1 of 1 copies accepted upstream, one per recipient; 2 accepted on an earlier attempt \[/,
    );
    expect(upstream.messages.map((m) => m.rcptTo[0]).sort()).toEqual(envelope);
    expect(upstream.received).toHaveLength(4);

    // A third identical send is a new message as far as the ledger knows: the entry was cleared.
    expect((await sendOnce(second.smtpPort, 'news@example.co.jp', envelope, newsletter)).final).toMatch(/^250 2\.0\.0 3 of 3 copies/);
  });

  it('split with a copy refused permanently: 250, and the refusal is logged with the upstream reply', async () => {
    const upstream = await recording({ rcptReply: (a) => (a === 'b@ext2.com' ? { code: 550, message: '5.1.1 no such user' } : undefined) });
    const guard = await guardFor(upstream.port, { policy: { action: 'split' } });
    const envelope = ['a@ext1.com', 'b@ext2.com'];
    const result = await sendOnce(guard.smtpPort, 'news@example.co.jp', envelope, crlf('From: news@example.co.jp', 'To: a@ext1.com, b@ext2.com', '', 'x', ''));
    expect(result.final).toMatch(/^250 2\.0\.0 1 of 2 copies accepted upstream, one per recipient; 1 refused permanently/);
    const line = guard.logs.find((l) => l['id']);
    expect(line?.['refused']).toEqual([{ recipient: 'b***@e***.com', code: 550, response: expect.stringContaining('no such user') }]);
  });

  it('a multi-recipient relay with one recipient deferred: 451, and the retry reaches only that recipient', async () => {
    let deferred = false;
    const upstream = await recording({
      rcptReply: (a) => {
        if (a === 'b@example.co.jp' && !deferred) {
          deferred = true;
          return { code: 450, message: '4.2.1 mailbox busy' };
        }
        return undefined;
      },
    });
    const guard = await guardFor(upstream.port);
    const envelope = ['a@example.co.jp', 'b@example.co.jp'];
    const message = crlf('From: app@example.co.jp', 'To: a@example.co.jp, b@example.co.jp', '', 'x', '');
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', envelope, message)).final).toMatch(/^451 4\.4\.0 1 of 2 recipients were accepted/);
    expect((await sendOnce(guard.smtpPort, 'app@example.co.jp', envelope, message)).final).toMatch(/^250 /);
    expect(upstream.messages.map((m) => m.rcptTo)).toEqual([['a@example.co.jp'], ['b@example.co.jp']]);
  });
});
