// The Dockerfile and .dockerignore, read statically: no Docker engine runs in CI,
// so the image is never built there. A cheap guard that still fails when a COPY
// names a file the build context leaves out, the image runs as root, the health
// check probes readiness, or the console's assets check goes missing.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, read } from '../helpers/monitoring-files.js';

interface Instruction {
  keyword: string;
  args: string;
}

/** The Dockerfile's instructions (continuation lines joined, comments dropped), split into stages at each FROM. */
function parseDockerfile(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '');
  for (const line of logical) {
    const m = /^\s*(\w+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile: cannot read "${line}"`);
    const instruction = { keyword: m[1]!.toUpperCase(), args: m[2]!.trim() };
    if (instruction.keyword === 'FROM') stages.push([]);
    if (stages.length === 0) throw new Error('Dockerfile: an instruction before the first FROM');
    stages.at(-1)!.push(instruction);
  }
  return stages;
}

/** COPY's flags, sources and destination (shell form, which is all the Dockerfile uses). */
function copyArgs(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { ...(from ? { from } : {}), sources: rest.slice(0, -1), dest: rest.at(-1)! };
}

/** A .dockerignore pattern as a regular expression over a slash-separated path (Go's filepath.Match plus "**"). */
function patternRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Docker's reading of .dockerignore: a pattern excludes a path or any directory above it; the last matching line wins, "!" takes back. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negated = l.startsWith('!');
      const pattern = (negated ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
      return { negated, re: patternRegex(pattern) };
    });
  return (path: string) => {
    const parts = path.replace(/^\.\//, '').split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.negated;
    return excluded;
  };
}

/** Every file below a repository directory, as repository paths. */
function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    return e.isDirectory() ? filesUnder(path) : [path];
  });
}

const stages = parseDockerfile(read('Dockerfile'));
const final = stages.at(-1)!;
const excluded = dockerignore(read('.dockerignore'));
const contextCopies = stages.flat().filter((i) => i.keyword === 'COPY' && !copyArgs(i.args).from);

describe('Dockerfile', () => {
  it('the final stage runs as a user that is not root', () => {
    const user = final.filter((i) => i.keyword === 'USER').at(-1)?.args;
    expect(user, 'a USER in the final stage').toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
    // Nothing runs after it as someone else: USER is the last word on who.
    const userAt = final.findIndex((i) => i.keyword === 'USER' && i.args === user);
    expect(final.slice(userAt).filter((i) => i.keyword === 'RUN')).toEqual([]);
  });

  it('HEALTHCHECK is liveness: it probes /healthz, never /readyz', () => {
    const checks = final.filter((i) => i.keyword === 'HEALTHCHECK');
    expect(checks).toHaveLength(1);
    expect(checks[0]!.args).toContain("path:'/healthz'");
    expect(checks[0]!.args).not.toContain('readyz');
  });

  it('every path it COPYs from the build context exists and is not left out by .dockerignore', () => {
    const sources = contextCopies.flatMap((i) => copyArgs(i.args).sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), `${source} exists`).toBe(true);
      expect(excluded(source), `${source} is in the build context`).toBe(false);
    }
    // A directory copied whole keeps all its files: nothing of src/ is ignored away.
    for (const file of filesUnder('src')) expect(excluded(file), file).toBe(false);
  });

  it('the build stage gets what npm run build compiles', () => {
    const tsconfig = JSON.parse(read('tsconfig.json')) as { include: string[] };
    const built = stages[0]!.filter((i) => i.keyword === 'COPY').flatMap((i) => copyArgs(i.args).sources);
    expect(built).toContain('tsconfig.json');
    for (const include of tsconfig.include) expect(built, include).toContain(include.split('/')[0]);
    expect(JSON.parse(read('package.json')).scripts.build).toContain('src/admin/ui/assets');
  });

  it("the final stage checks that every one of the console's assets is in dist/", () => {
    const runs = final.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    const copyDistAt = final.findIndex((i) => i.keyword === 'COPY' && copyArgs(i.args).from === 'build' && copyArgs(i.args).dest === './dist');
    expect(copyDistAt, 'COPY --from=build /app/dist ./dist').toBeGreaterThan(0);
    const check = final.slice(copyDistAt).find((i) => i.keyword === 'RUN' && i.args.includes('dist/admin/ui/assets/'));
    expect(check, `a RUN test -f after the COPY of dist (RUNs: ${runs.join(' | ')})`).toBeDefined();
    const assets = readdirSync(join(ROOT, 'src/admin/ui/assets'));
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) expect(check!.args).toContain(`test -f dist/admin/ui/assets/${asset}`);
  });

  it("runs the package's CLI, production dependencies only", () => {
    const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
    const entrypoint = JSON.parse(final.find((i) => i.keyword === 'ENTRYPOINT')!.args) as string[];
    expect(entrypoint).toEqual(['node', pkg.bin['mail-guard']]);
    expect(final.find((i) => i.keyword === 'RUN' && i.args.startsWith('npm ci'))?.args).toContain('--omit=dev');
  });

  // The compose stack (deploy/) runs scripts of its own with this image's node and
  // node_modules: they may import only what npm ci --omit=dev installs.
  it.skipIf(!existsSync(join(ROOT, 'deploy')))('scripts the compose stack runs in the image import only production dependencies', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const scripts = filesUnder('deploy').filter((f) => /\.(mjs|cjs|js)$/.test(f));
    for (const script of scripts) {
      const text = readFileSync(join(ROOT, script), 'utf8');
      const imports = [...text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
      for (const name of imports.filter((n) => !n.startsWith('node:') && !n.startsWith('.') && !n.startsWith('/'))) {
        const pkgName = name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0]!;
        expect(Object.keys(pkg.dependencies), `${script} imports ${name}`).toContain(pkgName);
      }
    }
  });
});

describe('.dockerignore', () => {
  it('keeps dependencies, builds, stores, tests, CI and git history out of the build context', () => {
    for (const path of [
      'node_modules/fastify/package.json',
      'dist/cli/main.js',
      'var/mail-guard/held/x.eml',
      '.git/HEAD',
      'test/unit/x.test.ts',
      'bench/run.mjs',
      '.ci/run',
      'docs/console.png',
      'test/fixtures/tls/localhost-key.pem',
      '.env',
    ]) {
      expect(excluded(path), path).toBe(true);
    }
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/cli/main.ts', 'src/admin/ui/assets/console.js', 'config/mail-guard.yaml']) {
      expect(excluded(path), path).toBe(false);
    }
  });

  it('reads patterns as Docker does: a later "!" takes a path back', () => {
    const rules = dockerignore('docs\n!docs/keep.md\n**/*.pem\n');
    expect(rules('docs/a.png')).toBe(true);
    expect(rules('docs/keep.md')).toBe(false);
    expect(rules('a/b/c.pem')).toBe(true);
    expect(rules('c.pem')).toBe(true);
    expect(rules('docsx/a.png')).toBe(false);
  });
});
