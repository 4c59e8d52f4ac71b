/**
 * Specs and files from someone else: every hostile or broken input is one paragraph, exit 2, no stack trace — never a
 * hang, an unbounded read, an INTERNAL error or the echo of a whole file. Real files, real FIFOs, real processes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, isCleanUserError, type CliResult } from './helpers/cli.js';
import { scratch } from './helpers/run.js';

const SPEC = `apiVersion: weightshare/v1
name: hostile
data: {source: synthetic, tasks: 4, rows: 12, features: 3}
stages: {propagate: {method: identity}, fuse: {method: mean}, optimize: {method: exact}}
evaluate: {baselines: false}
output: {write: false}
`;

/** A folder with spec.yaml (SPEC plus `extra`), and the CLI run in it. */
function inFolder(extra = ''): { dir: string; run: (...args: string[]) => CliResult } {
  const dir = scratch('ws-hostile-');
  writeFileSync(join(dir, 'spec.yaml'), SPEC + extra);
  return { dir, run: (...args) => cli(args, { cwd: dir }) };
}

function expectError(r: CliResult, code: string): void {
  expect(isCleanUserError(r, code), `exit ${r.code}\n${r.stderr}`).toBe(true);
  expect(r.stdout).toBe('');
}

describe('files a spec points at must be regular files', () => {
  const csvData = (path: string): string => `data={source: csv, path: ${JSON.stringify(path)}, task: t, target: y}`;

  it.each([
    ['a device (/dev/zero, never read)', () => '/dev/zero', /is a device/],
    ['a folder', (dir: string) => (mkdirSync(join(dir, 'data.csv')), 'data.csv'), /is a folder/],
    ['a /proc file', () => '/proc/self/environ', /\/proc or \/sys pseudo-file/],
    [
      'a FIFO (never blocks)',
      (dir: string) => {
        execFileSync('mkfifo', [join(dir, 'data.csv')]);
        return 'data.csv';
      },
      /named pipe \(FIFO\)/,
    ],
  ])('data: %s is refused', (_what, make, message) => {
    const { dir, run } = inFolder();
    const path = make(dir);
    const started = Date.now();
    const r = run('run', 'spec.yaml', '--set', csvData(path));
    expect(Date.now() - started).toBeLessThan(20_000);
    expectError(r, 'FILE_NOT_FOUND');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/at \/data\/path: named here/);
  });

  it('relation, init and split files: a FIFO and a device are refused the same way', () => {
    const { dir, run } = inFolder();
    execFileSync('mkfifo', [join(dir, 'pipe.csv')]);
    for (const set of ['relation={method: csv, path: pipe.csv}', 'init={method: file, path: /dev/zero}']) {
      const r = run('run', 'spec.yaml', '--set', set);
      expectError(r, 'FILE_NOT_FOUND');
      expect(r.stderr).toMatch(/not a regular file/);
    }
    writeFileSync(join(dir, 'data.csv'), 't,y,x\n' + Array.from({ length: 16 }, (_, i) => `${i % 2},${i},${i * i}`).join('\n') + '\n');
    const r = run('run', 'spec.yaml', '--set', csvData('data.csv'), '--set', 'split={method: file, path: pipe.csv, column: s}');
    expectError(r, 'FILE_NOT_FOUND');
    expect(r.stderr).toMatch(/split|matrix|data file "pipe.csv" is a named pipe/);
  });

  it('the spec file itself: a FIFO or a device is refused by every command that reads a spec (none blocks)', () => {
    const { dir, run } = inFolder();
    execFileSync('mkfifo', [join(dir, 'spec-pipe.yaml')]);
    for (const cmd of ['run', 'validate', 'sweep', 'plugins', 'schema'])
      for (const file of ['spec-pipe.yaml', '/dev/zero']) {
        const r = run(cmd, file);
        expectError(r, 'FILE_NOT_FOUND');
        expect(r.stderr).toMatch(/spec file ".*" is (a named pipe|a device)/);
      }
  });

  it('an error shows a short excerpt of a file, never its whole first line (an environment-like header)', () => {
    const { dir, run } = inFolder();
    const secret = 'SECRET_TOKEN_' + 'x'.repeat(80);
    const header = Array.from({ length: 3000 }, (_, i) => `VAR_${i}=${i === 2999 ? secret : 'v'.repeat(40)}`);
    writeFileSync(join(dir, 'env.csv'), header.join(',') + '\n' + header.map((_, i) => String(i)).join(',') + '\n');
    const r = run('run', 'spec.yaml', '--set', csvData('env.csv'));
    expectError(r, 'DATA_INVALID');
    expect(r.stderr).toMatch(/Its columns are: VAR_0=v+…, .*… \(3000 in all\)/);
    expect(r.stderr).not.toContain('SECRET_TOKEN');
    expect(r.stderr.length).toBeLessThan(2000);
  });

  it('a huge cell or header is cut to an excerpt in every CSV message', () => {
    const { dir, run } = inFolder();
    const long = 'A'.repeat(100_000);
    writeFileSync(join(dir, 'd.csv'), `t,y,x,x\n1,2,${long},4\n`);
    const dup = run('run', 'spec.yaml', '--set', csvData('d.csv'));
    expectError(dup, 'CSV_INVALID');
    writeFileSync(join(dir, 'd.csv'), `t,y,x\n1,2,1${long}\n1,3,2\n2,4,3\n2,5,x\n`);
    const cell = run('run', 'spec.yaml', '--set', csvData('d.csv'));
    expectError(cell, 'CSV_INVALID');
    writeFileSync(join(dir, 'd.csv'), `t,y,x\n1,2,"${long}\n`);
    const quote = run('run', 'spec.yaml', '--set', csvData('d.csv'));
    expectError(quote, 'CSV_INVALID');
    for (const r of [dup, cell, quote]) expect(r.stderr.length, r.stderr.slice(0, 300)).toBeLessThan(2000);
  });
});

describe('specs that crashed the parser or validation', () => {
  it('a YAML alias bomb is SPEC_YAML naming the spec file and the alias', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
    const { run } = inFolder(lines.join('\n') + '\n');
    const r = run('validate', 'spec.yaml');
    expectError(r, 'SPEC_YAML');
    expect(r.stderr).toMatch(/spec\.yaml:8:\d+: its aliases/);
  });

  it('a recursive alias is SPEC_YAML at the alias (it used to fail converting a circular structure)', () => {
    const { run } = inFolder('description: &d [*d]\n');
    const r = run('validate', 'spec.yaml');
    expectError(r, 'SPEC_YAML');
    expect(r.stderr).toMatch(/spec\.yaml:7:\d+, at \/description\/0: an alias refers to a value that contains it/);
    const flag = inFolder().run('validate', 'spec.yaml', '--set', 'description=&e [*e]');
    expectError(flag, 'INVALID_ARGUMENT');
  });

  it('--set __proto__.x=1 is an unknown key, and pollutes nothing', () => {
    const { run } = inFolder();
    const r = run('validate', 'spec.yaml', '--set', '__proto__.x=1', '--json');
    expect(isCleanUserError(r, 'SPEC_INVALID'), r.stderr).toBe(true);
    expect(r.stderr).toMatch(/--set __proto__\.x=1, at \/__proto__: unknown key "__proto__"/);
    expect(r.stderr.match(/unknown key/g)).toHaveLength(1);
  });

  it.each(['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'])('a key "%s" under data, split, relation or init is refused as unknown', (key) => {
    const { run } = inFolder(`split: {method: random, ${key}: 1}\nrelation: {method: identity, ${key}: {a: 1}}\ninit: {method: zeros, ${key}: 2}\n`);
    const r = run('validate', 'spec.yaml', '--set', `data.${key}=3`);
    expect(isCleanUserError(r, 'SPEC_INVALID'), r.stderr).toBe(true);
    for (const where of ['/data/', '/split/', '/relation/', '/init/']) expect(r.stderr).toContain(`at ${where}${key}: unknown key "${key}"`);
  });

  it('split.method column on synthetic data is caught by validate', () => {
    const { run } = inFolder('split: {method: column, column: fold}\n');
    const r = run('validate', 'spec.yaml');
    expectError(r, 'SPEC_INVALID');
    expect(r.stderr).toMatch(/spec\.yaml:7:\d+, at \/split\/method: split\.method column .* data\.source is synthetic/);
  });
});
