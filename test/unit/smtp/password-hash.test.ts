import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runHashPassword } from '../../../src/cli/hash-password-command.js';
import { MalformedPasswordHash, parsePasswordHash } from '../../../src/config/password-hash-format.js';
import { hashPassword, verifyPassword } from '../../../src/smtp/password-hash.js';
import { AuthFailureLimiter, createAuthenticator } from '../../../src/smtp/smtp-auth.js';

describe('hashPassword / verifyPassword', () => {
  it('produces scrypt$16384$8$1$<16-byte salt>$<32-byte key> and verifies only the right password', async () => {
    const encoded = await hashPassword('correct horse');
    const parts = encoded.split('$');
    expect(parts.slice(0, 4)).toEqual(['scrypt', '16384', '8', '1']);
    expect(Buffer.from(parts[4]!, 'base64')).toHaveLength(16);
    expect(Buffer.from(parts[5]!, 'base64')).toHaveLength(32);
    expect(await verifyPassword('correct horse', encoded)).toBe(true);
    expect(await verifyPassword('correct horse ', encoded)).toBe(false);
    expect(await verifyPassword('', encoded)).toBe(false);
  });

  it('salts: the same password hashes differently each time', async () => {
    const [a, b] = await Promise.all([hashPassword('pw'), hashPassword('pw')]);
    expect(a).not.toBe(b);
    expect(await verifyPassword('pw', a)).toBe(true);
    expect(await verifyPassword('pw', b)).toBe(true);
  });

  it('handles non-ASCII passwords, composed and decomposed alike', async () => {
    const encoded = await hashPassword('p\u00e4ss\u30d1\u30b9');
    expect(await verifyPassword('p\u00e4ss\u30d1\u30b9', encoded)).toBe(true);
    expect(await verifyPassword('pa\u0308ss\u30d1\u30b9', encoded)).toBe(true);
    expect(await verifyPassword('pass\u30d1\u30b9', encoded)).toBe(false);
  });

  it('verifies hashes made with other (bounded) parameters', async () => {
    // scrypt N=1024 r=8 p=1, salt "saltsaltsaltsalt", password "pw": computed with node:crypto.
    const { scryptSync } = await import('node:crypto');
    const salt = Buffer.from('saltsaltsaltsalt');
    const key = scryptSync('pw', salt, 32, { N: 1024, r: 8, p: 1 });
    const encoded = `scrypt$1024$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
    expect(await verifyPassword('pw', encoded)).toBe(true);
    expect(await verifyPassword('pW', encoded)).toBe(false);
  });

  const good = 'scrypt$16384$8$1$qMKNw+nFwCf7q2luRA7X5A==$gZDb4O1DCKlXoh/4jFEZBcEY+F7OSZCzXrR2DaE8GgA=';
  const malformed: Array<[string, string, RegExp]> = [
    ['empty', '', /expected scrypt\$N\$r\$p\$/],
    ['prefix only', 'scrypt$', /expected scrypt\$N\$r\$p\$/],
    ['other scheme', good.replace('scrypt', 'bcrypt'), /expected scrypt/],
    ['field missing', good.split('$').slice(0, 5).join('$'), /expected scrypt/],
    ['extra field', `${good}$x`, /expected scrypt/],
    ['N not a number', good.replace('16384', 'abc'), /N is not a positive integer/],
    ['N zero', good.replace('16384', '0'), /N is not a positive integer/],
    ['N not a power of two', good.replace('16384', '16000'), /N must be a power of two/],
    ['N huge', good.replace('16384', '1073741824'), /more than 256 MiB/],
    ['r negative', good.replace('$8$', '$-8$'), /r is not a positive integer/],
    ['p out of range', good.replace('$1$', '$99$'), /r or p is out of range/],
    ['salt not base64', good.replace('qMKNw+nFwCf7q2luRA7X5A==', 'not*base64!'), /salt is not valid base64/],
    ['salt too short', good.replace('qMKNw+nFwCf7q2luRA7X5A==', 'AAAA'), /salt is shorter/],
    ['hash empty', good.replace(/\$[^$]+$/, '$'), /hash is not valid base64/],
    ['hash too short', good.replace(/\$[^$]+$/, '$AAAAAAAA'), /hash must be/],
    ['hash with whitespace', good.replace('gZDb', 'gZ Db'), /hash is not valid base64/],
  ];
  it.each(malformed)('rejects a malformed hash (%s) with a typed error', async (_name, encoded, message) => {
    expect(() => parsePasswordHash(encoded)).toThrow(MalformedPasswordHash);
    expect(() => parsePasswordHash(encoded)).toThrow(message);
    await expect(verifyPassword('pw', encoded)).rejects.toThrow(MalformedPasswordHash);
  });

  it('accepts the hash it printed', () => {
    expect(parsePasswordHash(good)).toMatchObject({ N: 16384, r: 8, p: 1 });
  });
});

describe('createAuthenticator', () => {
  it('returns the user name for the right password and null for a wrong one or an unknown user', async () => {
    const auth = createAuthenticator({ required: true, users: [{ name: 'app', passwordHash: await hashPassword('s3cret') }] });
    expect(await auth.verify('app', 's3cret')).toBe('app');
    expect(await auth.verify('app', 'nope')).toBeNull();
    expect(await auth.verify('APP', 's3cret')).toBeNull();
    expect(await auth.verify('nobody', 's3cret')).toBeNull();
    expect(await auth.verify('', '')).toBeNull();
  });

  it('an unknown user costs a full scrypt check, like a known one', async () => {
    const auth = createAuthenticator({ required: true, users: [{ name: 'app', passwordHash: await hashPassword('s3cret') }] });
    const time = async (user: string) => {
      const started = performance.now();
      await auth.verify(user, 'wrong');
      return performance.now() - started;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      known.push(await time('app'));
      unknown.push(await time('nobody'));
    }
    // Loose on purpose (shared CI machines): a lookup without scrypt would be ~100x faster.
    expect(Math.min(...unknown)).toBeGreaterThan(Math.min(...known) * 0.3);
  });
});

describe('AuthFailureLimiter', () => {
  const limits = { maxFailures: 3, windowMs: 1000, maxTrackedClients: 4 };

  it('locks an address out after maxFailures within the window, and only that address', async () => {
    let now = 0;
    const limiter = new AuthFailureLimiter(limits, () => now);
    const lockouts: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      expect(await limiter.begin('10.0.0.1')).toBe(true);
      lockouts.push(limiter.end('10.0.0.1', true));
    }
    // end() reports the failure that locked the address out, and only that one.
    expect(lockouts).toEqual([false, false, true]);
    expect(limiter.blocked('10.0.0.1')).toBe(true);
    expect(await limiter.begin('10.0.0.1')).toBe(false);
    expect(limiter.blocked('10.0.0.2')).toBe(false);
    now = 999;
    expect(limiter.blocked('10.0.0.1')).toBe(true);
    now = 1000;
    expect(limiter.blocked('10.0.0.1')).toBe(false);
    expect(limiter.size).toBe(0);
  });

  it('slides: old failures expire one by one', async () => {
    let now = 0;
    const limiter = new AuthFailureLimiter(limits, () => now);
    for (const t of [0, 400, 800]) {
      now = t;
      await limiter.begin('a');
      limiter.end('a', true);
    }
    now = 1100;
    expect(limiter.blocked('a')).toBe(false);
    await limiter.begin('a');
    // Unlocked for a moment, so locking again is a new lockout.
    expect(limiter.end('a', true)).toBe(true);
    expect(limiter.blocked('a')).toBe(true);
  });

  it('success does not reset the count', async () => {
    const limiter = new AuthFailureLimiter(limits, () => 0);
    await limiter.begin('a');
    limiter.end('a', true);
    await limiter.begin('a');
    limiter.end('a', false);
    await limiter.begin('a');
    limiter.end('a', true);
    expect(limiter.blocked('a')).toBe(false);
    await limiter.begin('a');
    expect(limiter.end('a', true)).toBe(true);
    expect(limiter.blocked('a')).toBe(true);
  });

  it('checks in flight are no failures: an attempt that could overshoot the limit waits for one to end', async () => {
    const limiter = new AuthFailureLimiter(limits, () => 0);
    const started: string[] = [];
    const attempt = (name: string) => limiter.begin('a').then((admitted) => (started.push(`${name}:${admitted}`), admitted));
    const first = [attempt('1'), attempt('2'), attempt('3')];
    await Promise.all(first);
    // Three in flight with a limit of three: not locked out, but a fourth must wait.
    expect(limiter.blocked('a')).toBe(false);
    const fourth = attempt('4');
    const fifth = attempt('5');
    await Promise.resolve();
    expect(started).toEqual(['1:true', '2:true', '3:true']);
    limiter.end('a', false); // a correct login ends: room for one more
    expect(await fourth).toBe(true);
    expect(started).toEqual(['1:true', '2:true', '3:true', '4:true']);
    limiter.end('a', true);
    limiter.end('a', true);
    expect(limiter.blocked('a')).toBe(false);
    // Two failures and one check in flight: the fifth still waits, and the third failure turns it away.
    expect(limiter.end('a', true)).toBe(true);
    expect(await fifth).toBe(false);
    expect(limiter.blocked('a')).toBe(true);
  });

  it('keeps at most maxTrackedClients addresses, but never forgets one with a check in flight', async () => {
    let now = 0;
    const limiter = new AuthFailureLimiter(limits, () => now);
    for (let i = 0; i < 2; i++) {
      await limiter.begin('busy');
      limiter.end('busy', true);
    }
    expect(await limiter.begin('busy')).toBe(true);
    for (let i = 0; i < 100; i++) {
      now = i;
      await limiter.begin(`10.0.${i}.1`);
      limiter.end(`10.0.${i}.1`, true);
      expect(limiter.size).toBeLessThanOrEqual(4);
    }
    // Its two earlier failures were kept, so this third one locks it out.
    expect(limiter.end('busy', true)).toBe(true);
    expect(limiter.size).toBeLessThanOrEqual(4);
    now = 10_000;
    await limiter.begin('x');
    limiter.end('x', true);
    expect(limiter.size).toBe(1);
  });
});

describe('mail-guard hash-password', () => {
  const run = async (stdin: string) => {
    const input = new PassThrough();
    let out = '';
    let err = '';
    const sink = (append: (s: string) => void) =>
      new Writable({
        write(chunk: Buffer, _enc, done) {
          append(chunk.toString());
          done();
        },
      });
    input.end(stdin);
    const code = await runHashPassword(
      input,
      sink((s) => (out += s)),
      sink((s) => (err += s)),
    );
    return { code, out, err };
  };

  it('prints a hash of the password read from stdin (with or without a trailing newline)', async () => {
    for (const stdin of ['pw 1', 'pw 1\n', 'pw 1\r\n']) {
      const r = await run(stdin);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\n$/);
      expect(await verifyPassword('pw 1', r.out.trim())).toBe(true);
    }
  });

  it('refuses an empty password', async () => {
    const r = await run('');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/empty password/);
  });
});
