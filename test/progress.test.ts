/** Progress on a terminal: the sweep line (jobs done of total, split, time left), on a stream that says it is a TTY. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../packages/cli/src/main.js';
import { sweepTerminalProgress } from '../packages/cli/src/progress.js';
import { scratch } from './helpers/run.js';

/** A stream that records what is written, and claims to be (or not be) a terminal. */
const stream = (isTTY: boolean): { isTTY: boolean; text: string; write(s: string): boolean } => ({
  isTTY,
  text: '',
  write(s: string) {
    this.text += s;
    return true;
  },
});

describe('sweep progress on a terminal', () => {
  it('one line rewritten in place: jobs done of total, the split, the time left at the pace so far; cleared at the end', () => {
    const out = stream(true);
    let t = 0;
    const bar = sweepTerminalProgress(out, () => t);
    t = 2000;
    bar.job(1, 5, 'split_1-c0'); // 2 s for one job, 4 to go
    expect(out.text).toBe('\r\x1b[2K sweep 1/5 jobs · split_1 · about 8 s left');
    t = 300000;
    bar.job(4, 5, 'split_2-c3'); // 4 jobs in 300 s: 75 s for the last one
    expect(out.text.endsWith(' sweep 4/5 jobs · split_2 · about 75 s left')).toBe(true);
    t = 400000;
    bar.job(2, 9, 'split_2-c4'); // (counts as told) 2 done in 400 s, 7 to go: 1400 s
    expect(out.text.endsWith(' sweep 2/9 jobs · split_2 · about 24 min left')).toBe(true);
    bar.job(5, 5, 'split_2-refit');
    expect(out.text.endsWith(' sweep 5/5 jobs · split_2 (refit)')).toBe(true);
    bar.end();
    expect(out.text.endsWith('\r\x1b[2K')).toBe(true);
  });

  it('jobs finished before a resume do not set the pace; a stream that is not a terminal gets nothing', () => {
    const out = stream(true);
    let t = 0;
    const bar = sweepTerminalProgress(out, () => t);
    t = 1000;
    bar.job(8, 10, 'split-c7'); // 7 were done before this process: one job in 1 s, 2 to go
    expect(out.text).toContain('8/10 jobs · split · about 2 s left');
    const log = stream(false);
    sweepTerminalProgress(log).job(1, 2, 'split-c0');
    expect(log.text).toBe('');
  });

  it('weightshare sweep shows it on a terminal and reaches every job (candidates and refit)', async () => {
    const dir = scratch('ws-progress-');
    writeFileSync(
      join(dir, 'spec.yaml'),
      'apiVersion: weightshare/v1\nname: pr\nseed: 2\ndata: { source: synthetic, tasks: 6, clusters: 2, features: 3, rows: 24 }\nstages:\n  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: exact, lambda: 1, ridge: 0.1 }\nsweep:\n  parameters:\n    stages.optimize.lambda: [0.1, 1, 10]\n',
    );
    const stdout = stream(false);
    const stderr = stream(true);
    const code = await main(['sweep', join(dir, 'spec.yaml'), '--jobs', '1', '--out', join(dir, 'runs')], { stdout, stderr } as unknown as Parameters<typeof main>[1]);
    expect(code, stderr.text).toBe(0);
    for (let k = 1; k <= 4; k++) expect(stderr.text).toContain(` sweep ${k}/4 jobs`);
    expect(stderr.text).toContain('(refit)');
  }, 60_000);
});
