import { z } from 'zod';
import { policyContent, ruleContent } from './content-schema.js';
import { isIP } from 'node:net';
import { createHash } from 'node:crypto';
import { SHIPPED_FREEMAIL_DOMAINS } from './freemail-domains.js';
import { MalformedPasswordHash, parsePasswordHash } from './password-hash-format.js';

// The analysis keeps counted headers as bits: 10 built in plus these fit in 30.
const MAX_EXTRA_HEADERS = 20;

// Every key is optional with a safe default; unknown keys are refused (strictObject)
// so a typo such as `upstrem:` stops start-up instead of silently running in
// rehearsal mode.

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().min(1);

const cidr = z.string().refine((value) => {
  const [ip, bits, extra] = value.split('/');
  if (extra !== undefined || !ip) return false;
  const family = isIP(ip);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}, 'expected an IP address or CIDR such as 127.0.0.1/32 or ::1/128');

const domainPattern = z
  .string()
  .min(1)
  .refine((d) => /^(\*\.)?[^\s*@]+$/.test(d), 'expected a domain such as example.co.jp or *.example.co.jp');

export const ACTIONS = ['pass', 'monitor', 'bcc', 'split', 'quarantine', 'reject'] as const;
export type PolicyAction = (typeof ACTIONS)[number];
const action = z.enum(ACTIONS);

const smtpUser = z.strictObject({
  name: z.string().min(1),
  passwordHash: z.string().regex(/^scrypt\$/, 'expected "scrypt$…" (see mail-guard hash-password)'),
  // When set, MAIL FROM of this login must be in one of these domains (exact or "*.example.co.jp").
  allowedSenderDomains: z.array(domainPattern).optional(),
});

const smtp = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(2525),
    maxMessageBytes: positiveInt.default(52_428_800),
    maxHeaderBytes: positiveInt.default(1_048_576),
    maxRecipients: positiveInt.default(1000),
    allowFrom: z.array(cidr).default(['127.0.0.1/32', '::1/128']),
    // Per transaction: from MAIL FROM to the final reply. A slow or stuck client
    // must not hold a session (and its buffered message) forever.
    transactionTimeoutSeconds: positiveInt.default(300),
    socketTimeoutSeconds: positiveInt.default(60),
    maxClients: positiveInt.default(1000),
    // Concurrent connections from one client address (the PROXY address when proxied).
    maxConnectionsPerClient: positiveInt.default(50),
    // Peers (exact addresses) that must send a PROXY protocol header / may use XCLIENT; empty = nobody.
    proxyProtocolFrom: z.array(z.string().refine((a) => isIP(a) !== 0, 'expected an IP address such as 127.0.0.1')).default([]),
    xclientFrom: z.array(z.string().refine((a) => isIP(a) !== 0, 'expected an IP address such as 127.0.0.1')).default([]),
    // A second listener speaking implicit TLS (RFC 8314, usually 465); needs smtp.tls.
    tlsPort: port.optional(),
    // smtp-server already writes "<host> ESMTP" before the banner.
    banner: z.string().default('mail-guard'),
    auth: z
      .strictObject({
        required: z.boolean().default(false),
        users: z.array(smtpUser).default([]),
      })
      .default({ required: false, users: [] }),
    tls: z.strictObject({ key: z.string().min(1), cert: z.string().min(1) }).optional(),
  })
  .superRefine((s, ctx) => {
    // Checks across keys that need no I/O, so `config check` and start-up refuse the
    // same configs without building a listener. Reading the certificate files is I/O:
    // smtp/smtp-tls.ts does that, for the listener and for `config check` alike.
    const authEnabled = s.auth.users.length > 0;
    if (s.auth.required && !authEnabled) {
      const message = 'no users in smtp.auth.users, so no client could send; add one (mail-guard hash-password) or set required: false';
      ctx.addIssue({ code: 'custom', path: ['auth', 'required'], message });
    }
    if (authEnabled && !s.tls) {
      ctx.addIssue({ code: 'custom', path: ['auth', 'users'], message: 'SMTP AUTH is only offered after STARTTLS; set smtp.tls (key and cert)' });
    }
    const names = new Set<string>();
    s.auth.users.forEach((user, i) => {
      if (names.has(user.name)) {
        ctx.addIssue({ code: 'custom', path: ['auth', 'users', i, 'name'], message: `user "${user.name}" is listed twice` });
      }
      names.add(user.name);
      try {
        parsePasswordHash(user.passwordHash);
      } catch (err) {
        if (!(err instanceof MalformedPasswordHash)) throw err;
        ctx.addIssue({ code: 'custom', path: ['auth', 'users', i, 'passwordHash'], message: err.message });
      }
    });
    if (s.tlsPort !== undefined && !s.tls) {
      const message = 'the implicit TLS listener needs a certificate; set smtp.tls (key and cert) or remove smtp.tlsPort';
      ctx.addIssue({ code: 'custom', path: ['tlsPort'], message });
    }
  });

const adminToken = z.strictObject({
  name: z.string().min(1),
  tokenSha256: z.string().regex(/^[0-9a-f]{64}$/i, 'expected 64 hex characters (sha256 of the token)'),
  role: z.enum(['reviewer', 'approver']),
});

const admin = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(9025),
    tokens: z.array(adminToken).default([]),
    // Signs the reviewer console's session cookies; without it a random key per
    // process is used and every console session ends when mail-guard restarts.
    sessionSecret: z.string().min(32, 'expected at least 32 characters (e.g. openssl rand -hex 32)').optional(),
    // HTTPS for the admin listener (API, console, metrics), for reviewers on other hosts.
    tls: z.strictObject({ key: z.string().min(1), cert: z.string().min(1) }).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.sessionSecret !== undefined && a.tokens.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['sessionSecret'],
        message: 'a session secret without admin.tokens: nobody can sign in to the console; add a token or remove it',
      });
    }
    if (a.sessionSecret !== undefined) {
      const digest = createHash('sha256').update(a.sessionSecret, 'utf8').digest('hex');
      if (a.tokens.some((t) => t.tokenSha256.toLowerCase() === digest)) {
        ctx.addIssue({ code: 'custom', path: ['sessionSecret'], message: 'admin.sessionSecret is one of the admin tokens; use a secret of its own' });
      }
    }
    if (a.tls !== undefined && a.tls.key === a.tls.cert) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'cert'],
        message: 'admin.tls.key and admin.tls.cert name the same file; give the key and the certificate separately',
      });
    }
  });

// upstream.tls: how the relay's certificate is trusted. The CA file is read (and
// must hold at least one PEM certificate) where the pool is built, which
// `config check` does too: see upstream/upstream-tls.ts.
const upstreamTls = z.strictObject({
  // An extra CA bundle (PEM) added to Node's bundled roots, not replacing them.
  ca: z.string().min(1).optional(),
  // The name to verify (and send as SNI) when upstream.host is an address or a
  // name the certificate does not carry. Node refuses SNI with an IP address.
  servername: z
    .string()
    .regex(
      /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/,
      'expected a DNS name such as relay.example.net',
    )
    .refine((name) => isIP(name) === 0, 'expected a DNS name such as relay.example.net, not an IP address (the address goes in upstream.host)')
    .optional(),
  // A pin of the relay's own (leaf) certificate, checked in addition to the chain and the name.
  fingerprint256: z
    .string()
    .regex(
      /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31}$/,
      'expected 32 colon-separated hex bytes (the SHA-256 fingerprint, e.g. from openssl x509 -noout -fingerprint -sha256)',
    )
    .transform((pin) => pin.toUpperCase())
    .optional(),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
});

const upstream = z
  .strictObject({
    host: z.string().min(1),
    port: port.default(587),
    secure: z.boolean().default(false),
    requireTLS: z.boolean().default(true),
    // Certificate checks stay on; only a test or a private CA may turn them off, and
    // then the operator must say so here explicitly.
    rejectUnauthorized: z.boolean().default(true),
    auth: z.strictObject({ user: z.string().min(1), pass: z.string().min(1) }).optional(),
    // auto: as many sessions as transactions are waiting, up to a cap (upstream/pool-sizing.ts); a number is a fixed cap.
    pool: z.union([z.literal('auto'), positiveInt.max(256)], { error: 'upstream.pool must be auto or a whole number from 1 to 256' }).default('auto'),
    connectTimeoutSeconds: positiveInt.default(10),
    // After the final dot a slow upstream may still be writing to disk; RFC 5321
    // 4.5.3.2.6 suggests 10 minutes, operators usually want less.
    dataTimeoutSeconds: positiveInt.default(120),
    name: z.string().min(1).optional(),
    tls: upstreamTls.default(() => upstreamTls.parse({})),
  })
  .superRefine((u, ctx) => {
    // Trust settings that would be silently ignored must stop start-up instead.
    if (!u.rejectUnauthorized && u.tls.fingerprint256 !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'fingerprint256'],
        message: 'a pin is checked together with certificate verification, not instead of it; remove upstream.rejectUnauthorized: false',
      });
    }
    if (!u.rejectUnauthorized && u.tls.ca !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['tls', 'ca'], message: 'a CA is of no use with upstream.rejectUnauthorized: false; remove one of them' });
    }
    if (u.tls.fingerprint256 !== undefined && !u.secure && !u.requireTLS) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'fingerprint256'],
        message: 'a pin needs TLS on every connection; set upstream.requireTLS: true or upstream.secure: true',
      });
    }
  });

// Mail that would leave waits this long in the store (status delayed), so a
// person can still stop a campaign nobody's rule describes. A week at most: a
// longer hold is a quarantine, not a delay.
const delaySeconds = z
  .number()
  .int()
  .min(0)
  .max(7 * 86_400);

// RFC 5322 field name: printable ASCII except ':'.
const headerName = z.string().regex(/^[\x21-\x39\x3b-\x7e]+$/, 'expected a header field name such as Disposition-Notification-To');

const rule = z
  .strictObject({
    name: z.string().min(1),
    // Conditions: every condition a rule names must hold (AND); a rule with none matches all.
    from: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
    fromDomain: z.union([domainPattern, z.array(domainPattern)]).optional(),
    client: z.union([cidr, z.array(cidr)]).optional(),
    authUser: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
    maxVisibleExternal: z.number().int().min(0).optional(),
    maxVisibleExternalDomains: z.number().int().min(0).nullable().optional(),
    action: action.optional(),
    // This rule's own delay window (policy.delaySeconds when absent).
    delaySeconds: delaySeconds.optional(),
    // This rule's own content threshold and action (policy.content fills in the rest).
    content: ruleContent.optional(),
  })
  .refine(
    (r) =>
      r.action !== undefined ||
      r.maxVisibleExternal !== undefined ||
      r.maxVisibleExternalDomains !== undefined ||
      r.delaySeconds !== undefined ||
      r.content !== undefined,
    { message: 'a rule needs an action, a threshold, a delaySeconds or a content threshold' },
  );

// DESIGN.md "Stopping a campaign while it runs": a sender whose mail keeps
// breaking the rules is paused as a whole, clean mail too, until a person resets it.
const breaker = z.strictObject({
  violations: positiveInt.max(100_000),
  windowSeconds: positiveInt.max(7 * 86_400),
  // quarantine: further mail from the sender is held; tempfail: answered 451 4.7.1 so the mailer keeps it queued.
  action: z.enum(['quarantine', 'tempfail']).default('quarantine'),
});

const policy = z.strictObject({
  maxVisibleExternal: z.number().int().min(0).default(1),
  maxVisibleExternalDomains: z.number().int().min(0).nullable().default(null),
  freemailDomains: z.array(domainPattern).default([...SHIPPED_FREEMAIL_DOMAINS]),
  action: action.default('quarantine'),
  fourEyes: z.boolean().default(true),
  // Past this many addresses in the visible headers the analysis stops and the
  // message is refused: counting further is unbounded work for an attacker.
  maxAddresses: positiveInt.default(10_000),
  maxSplitCopies: positiveInt.default(1000),
  // More headers whose addresses a recipient sees (e.g. Disposition-Notification-To);
  // counted like Reply-To, and kept on bcc/split copies only when harmless.
  extraHeaders: z.array(headerName).max(MAX_EXTRA_HEADERS).default([]),
  rules: z.array(rule).default([]),
  delaySeconds: delaySeconds.default(0),
  breaker: breaker.optional(),
  // DESIGN.md "Content beyond the headers"; off when absent.
  content: policyContent.optional(),
});

// A rule's content threshold may rely on policy.content for its number; without one anywhere it means nothing.
const checkedPolicy = policy.superRefine((p, ctx) => {
  p.rules.forEach((r, i) => {
    if (r.content && r.content.maxAddresses === undefined && p.content === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['rules', i, 'content', 'maxAddresses'],
        message: 'needs a number here or in policy.content.maxAddresses',
      });
    }
  });
});

const store = z.strictObject({
  type: z.enum(['file', 'redis']).default('file'),
  path: z.string().min(1).default('var/mail-guard'),
  url: z.string().min(1).default('redis://127.0.0.1:6379'),
  redisOptions: z.record(z.string(), z.unknown()).optional(),
  retentionDays: positiveInt.default(30),
  // How long the delivery ledger remembers which copies the upstream accepted
  // before a 451: a retry after that is sent whole.
  ledgerHours: positiveInt.default(120),
  // A release claim (a person's release, or a delayed message leaving) is held
  // for this long and renewed while the release runs; a claim whose holder died
  // expires, is reported and waits for an operator: it is never re-sent by itself.
  claimLeaseSeconds: positiveInt.min(30).max(86_400).default(300),
  // Redis with replicas (Sentinel): this many replicas must confirm each durable
  // write (held or delayed mail, claims, the ledger) within redisWaitTimeoutMs,
  // else the mailer gets 451. 0: the primary's word is enough, and a primary that
  // dies before replicating takes acknowledged writes with it.
  redisWaitReplicas: z.number().int().min(0).max(16).default(0),
  redisWaitTimeoutMs: positiveInt.max(10_000).default(250),
});

const checkedStore = store.superRefine((s, ctx) => {
  if (s.redisWaitReplicas === 0) return;
  if (s.type !== 'redis') {
    ctx.addIssue({ code: 'custom', path: ['redisWaitReplicas'], message: 'waits for Redis replicas: only with store.type redis; remove it or set it to 0' });
  } else if (Array.isArray(s.redisOptions?.['cluster'])) {
    ctx.addIssue({
      code: 'custom',
      path: ['redisWaitReplicas'],
      message: 'not with a Redis Cluster (WAIT would reach an arbitrary node); use it with one primary or Sentinel',
    });
  }
  // The WAIT is one Redis command: it must end before the command timeout gives up on it.
  const commandTimeout = typeof s.redisOptions?.['commandTimeout'] === 'number' ? s.redisOptions['commandTimeout'] : 1000;
  if (s.redisWaitTimeoutMs >= commandTimeout) {
    ctx.addIssue({
      code: 'custom',
      path: ['redisWaitTimeoutMs'],
      message: `must be below the Redis command timeout (redisOptions.commandTimeout, ${commandTimeout} ms), else the WAIT itself times out`,
    });
  }
});

export const WEBHOOK_EVENTS = ['held', 'breaker', 'released', 'discarded'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

const webhook = z.strictObject({
  url: z
    .string()
    .url('expected an http:// or https:// URL')
    .refine((u) => /^https?:\/\//i.test(u), 'expected an http:// or https:// URL'),
  // json: mail-guard's own event object; slack: {"text": …} for Slack-style incoming webhooks.
  format: z.enum(['json', 'slack']).default('json'),
  events: z
    .array(z.enum(WEBHOOK_EVENTS))
    .min(1)
    .default([...WEBHOOK_EVENTS]),
  timeoutSeconds: positiveInt.max(60).default(5),
  // Further attempts after a failed POST, with doubling backoff; then the event is dropped with a log line.
  retries: z.number().int().min(0).max(10).default(3),
});

// Notices mail-guard itself sends: the delivery status notification for copies
// refused after a 250 (RFC 3464), the notice to the sender of held or rejected
// mail (one per campaign and hour), and webhooks to the people on duty.
const notify = z
  .strictObject({
    language: z.enum(['ja', 'en']).default('en'),
    sender: z.boolean().default(false),
    // The From of sender notices (they go out with the null envelope sender, RFC 3834).
    from: z
      .string()
      .regex(/^[^\s@<>]+@[^\s@<>]+$/, 'expected an address such as mail-guard@example.co.jp')
      .optional(),
    webhooks: z.array(webhook).max(20).default([]),
  })
  .superRefine((n, ctx) => {
    if (n.sender && n.from === undefined) {
      const message = 'sender notices need a From address; set notify.from (e.g. mail-guard@example.co.jp) or notify.sender: false';
      ctx.addIssue({ code: 'custom', path: ['from'], message });
    }
  });

const log = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  showAddresses: z.boolean().default(false),
});

const WORKERS = 'expected auto or an integer from 1 to 64';

export const configSchema = z.strictObject({
  smtp: smtp.default(() => smtp.parse({})),
  admin: admin.default(() => admin.parse({})),
  upstream: upstream.optional(),
  internalDomains: z.array(domainPattern).default([]),
  policy: checkedPolicy.default(() => checkedPolicy.parse({})),
  store: checkedStore.default(() => checkedStore.parse({})),
  log: log.default(() => log.parse({})),
  notify: notify.default(() => notify.parse({})),
  shutdownGraceSeconds: positiveInt.default(30),
  // SMTP worker processes sharing smtp.port (node:cluster); auto = one per core
  // (os.availableParallelism()). Kept as written: `serve` resolves auto on the host it runs on.
  workers: z.union([z.literal('auto'), z.number({ error: WORKERS }).int(WORKERS).min(1, WORKERS).max(64, WORKERS)], { error: WORKERS }).default(1),
});

export type MailGuardConfig = z.infer<typeof configSchema>;
export type PolicyConfig = MailGuardConfig['policy'];
export type PolicyRule = PolicyConfig['rules'][number];
export type UpstreamConfig = NonNullable<MailGuardConfig['upstream']>;
