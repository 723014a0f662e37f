import { describe, expect, it } from 'vitest';
import { parseConfigObject } from '../../../src/config/load.js';
import { configHash, planReload } from '../../../src/config/reload-plan.js';

const running = parseConfigObject({ smtp: { port: 2525 }, admin: { port: 9025 }, policy: { action: 'quarantine' }, workers: 2 });

describe('planReload', () => {
  it('takes the reloadable keys of the new file and keeps every restart-only one as it runs', () => {
    const next = parseConfigObject({ smtp: { port: 2626 }, admin: { port: 9026 }, policy: { action: 'monitor' }, workers: 3, store: { path: 'elsewhere' } });
    const plan = planReload(running, next);
    expect(plan.needsRestart).toEqual(['smtp', 'admin.port', 'store', 'workers']);
    expect(plan.effective.policy.action).toBe('monitor');
    expect(plan.effective.smtp.port).toBe(2525);
    expect(plan.effective.admin.port).toBe(9025);
    expect(plan.effective.workers).toBe(2);
    expect(plan.effective.store.path).toBe(running.store.path);
  });

  it('reports nothing for a file that changes only reloadable keys, ', () => {
    expect(
      planReload(running, parseConfigObject({ smtp: { port: 2525 }, admin: { port: 9025 }, workers: 2, internalDomains: ['example.co.jp'] })).needsRestart,
    ).toEqual([]);
  });

  it('refuses a mix of kept and new keys that breaks a check across keys', () => {
    const secret = parseConfigObject({ admin: { tokens: [{ name: 'a', tokenSha256: 'a'.repeat(64), role: 'reviewer' }], sessionSecret: 'x'.repeat(32) } });
    // The secret is kept (restart-only) while the new file drops every token.
    expect(() => planReload(secret, parseConfigObject({}), 'mail-guard.yaml')).toThrow(
      /^mail-guard\.yaml: admin\.sessionSecret: a session secret without admin\.tokens/,
    );
  });
});

describe('configHash', () => {
  it('is 12 hex, the same whatever the key order, and different for another config', () => {
    const a = parseConfigObject({ policy: { action: 'monitor', maxVisibleExternal: 2 }, internalDomains: ['example.co.jp'] });
    const b = parseConfigObject({ internalDomains: ['example.co.jp'], policy: { maxVisibleExternal: 2, action: 'monitor' } });
    expect(configHash(a)).toMatch(/^[0-9a-f]{12}$/);
    expect(configHash(b)).toBe(configHash(a));
    expect(configHash(parseConfigObject({ policy: { action: 'reject' } }))).not.toBe(configHash(a));
  });
});
