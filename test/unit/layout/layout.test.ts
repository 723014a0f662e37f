import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// ARCHITECTURE.md's layout as a test: the rules in .dependency-cruiser.cjs hold
// for src/, and they are alive (a planted upward import, I/O in analysis and a
// cycle are each reported), so a typo in a rule cannot turn the check off.

const require = createRequire(import.meta.url);
const config = require('../../../.dependency-cruiser.cjs') as { forbidden: unknown[]; options: Record<string, unknown> };

async function cruiseWithRules(paths: string[], baseDir?: string): Promise<ICruiseResult> {
  // The CLI reads tsconfig.json itself; the API would need it parsed, and src resolves without it.
  const { tsConfig: _tsConfig, ...options } = config.options;
  const result = await cruise(paths, { ...options, ...(baseDir ? { baseDir } : {}), validate: true, ruleSet: { forbidden: config.forbidden } } as never);
  return result.output as ICruiseResult;
}

const describeViolation = (v: IViolation): string =>
  `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(' -> ')})` : ''}`;

describe('the layout of src/', () => {
  it('has no import cycle, no upward import, and no I/O in analysis/ or policy/', async () => {
    const { summary, modules } = await cruiseWithRules(['src']);
    // Every import resolved: an unresolved one would be an edge the rules never saw.
    const unresolved = modules.flatMap((m) => m.dependencies.filter((d) => d.couldNotResolve).map((d) => `${m.source} -> ${d.module}`));
    expect(unresolved).toEqual([]);
    expect(modules.filter((m) => m.source.startsWith('src/')).length).toBeGreaterThan(80);
    expect(summary.violations.map(describeViolation)).toEqual([]);
  });
});

describe('the layout rules themselves', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mg-layout-'));
    const file = async (path: string, text: string): Promise<void> => {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), text);
    };
    await file('src/actions/deliver.ts', 'export const deliver = 1;\n');
    await file('src/analysis/upward.ts', "import { deliver } from '../actions/deliver.js';\nexport const x = deliver;\n");
    await file('src/policy/reads-disk.ts', "import { readFileSync } from 'node:fs';\nexport const y = readFileSync;\n");
    await file('src/message/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
    // workers/ sits between cli/ and app.ts: cli may use it, the composition root may not.
    await file('src/workers/cluster-serve.ts', 'export const serve = 1;\n');
    await file('src/app.ts', "import { serve } from './workers/cluster-serve.js';\nexport const app = serve;\n");
    await file(
      'src/cli/serve-command.ts',
      "import { serve } from '../workers/cluster-serve.js';\nimport { app } from '../app.js';\nexport const run = serve + app;\n",
    );
    await file('src/message/b.ts', "import type { a } from './a.js';\nexport const b = 1 as unknown as typeof a;\n");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('report an upward import, I/O in a pure folder and a type-only cycle', async () => {
    const rules = new Set((await cruiseWithRules(['src'], dir)).summary.violations.map((v) => `${v.rule.name} ${v.from}`));
    expect(rules).toContain('layer-analysis src/analysis/upward.ts');
    expect(rules).toContain('pure-analysis-and-policy src/policy/reads-disk.ts');
    expect([...rules].some((r) => r.startsWith('no-circular src/message/'))).toBe(true);
    expect(rules).toContain('layer-app.ts src/app.ts');
    expect([...rules].some((r) => r.endsWith('src/cli/serve-command.ts'))).toBe(false);
  });
});
