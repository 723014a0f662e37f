import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../../src/config/load.js';
import { printableConfig } from '../../../src/config/print.js';
import { workerCount } from '../../../src/workers/worker-count.js';

const errorOf = (yaml: string): string => {
  try {
    parseConfigText(yaml, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('config: workers', () => {
  it('defaults to 1: one process, no cluster', () => {
    const config = parseConfigText('');
    expect(config.workers).toBe(1);
    expect(workerCount(config)).toBe(1);
  });

  it('takes an integer from 1 to 64, or auto (one per core of the host serve runs on)', () => {
    expect(parseConfigText('workers: 2\n').workers).toBe(2);
    expect(parseConfigText('workers: 64\n').workers).toBe(64);
    const auto = parseConfigText('workers: auto\n');
    expect(auto.workers).toBe('auto');
    expect(workerCount(auto, () => 16)).toBe(16);
    expect(workerCount(auto, () => 200)).toBe(64);
    expect(workerCount(auto)).toBeGreaterThanOrEqual(1);
  });

  it.each(['workers: 0\n', 'workers: 65\n', 'workers: 1.5\n', 'workers: "2"\n', 'workers: all\n', 'workers: -1\n'])('refuses %j, naming the key', (yaml) => {
    const message = errorOf(yaml);
    expect(message).toBe('test.yaml: workers: expected auto or an integer from 1 to 64');
  });

  it('config print shows it, and the shipped config sets it', () => {
    expect(printableConfig(parseConfigText('workers: auto\n'))).toMatch(/^workers: auto$/m);
    expect(printableConfig(parseConfigText(''))).toMatch(/^workers: 1$/m);
    const shipped = readFileSync('config/mail-guard.yaml', 'utf8');
    expect(shipped).toMatch(/^workers: 1 /m);
    expect(parseConfigText(shipped).workers).toBe(1);
  });
});
