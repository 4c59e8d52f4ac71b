/**
 * docs/plugins.md cannot rot: every code block is either a file of the repository (checked byte for byte) or a
 * shell command that is run here and must succeed.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const doc = readFileSync(new URL('../docs/plugins.md', import.meta.url), 'utf8');
const blocks = [...doc.matchAll(/^```(\S*)([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, info: m[2]!.trim(), body: m[3]! }));

describe('docs/plugins.md', () => {
  it('has code blocks, each a file or a command', () => {
    expect(blocks.length).toBeGreaterThan(6);
    for (const b of blocks) expect(b.lang === 'sh' || /^title="[^"]+"$/.test(b.info), `unexercised block: ${b.lang} ${b.info}`).toBe(true);
  });

  it.each(blocks.filter((b) => b.lang !== 'sh').map((b) => [b.info.slice(7, -1), b.body]))('%s is the real file', (path, body) => {
    expect(body).toBe(readFileSync(fileURLToPath(new URL(`../${path}`, import.meta.url)), 'utf8'));
  });

  it.each(blocks.filter((b) => b.lang === 'sh').flatMap((b) => b.body.trim().split('\n')))('`%s` succeeds', (command) => {
    execSync(command, { cwd: root, stdio: 'pipe', env: { ...process.env, FORCE_COLOR: '0' } });
  });
});
