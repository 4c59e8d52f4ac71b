/** A small project for run-folder tests: a spec in its own folder with its own CSV data, so tests can edit both. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Rng, type Manifest } from '@weightshare/framework';
import { scratch } from './run.js';

export const FINAL = ['results.json', 'weights.csv', 'weights.npy', 'targets.csv', 'targets.npy', 'relation.npy'];

/** A spec in its own folder with its own CSV data. */
export function project(rounds: number | string = 12, stages?: string): { dir: string; spec: string } {
  const dir = scratch('ws-runs-');
  const rng = new Rng(5);
  const lines = ['task,x1,x2,x3,y'];
  for (let t = 0; t < 8; t++)
    for (let i = 0; i < 20; i++) {
      const x = [rng.normal(), rng.normal(), rng.normal()];
      lines.push(`t${t},${x.join(',')},${x[0]! * (1 + t / 4) - x[1]! + 0.3 * rng.normal()}`);
    }
  writeFileSync(join(dir, 'data.csv'), lines.join('\n') + '\n');
  writeFileSync(
    join(dir, 'spec.yaml'),
    `apiVersion: weightshare/v1
name: crash
seed: 3
data: { source: csv, path: data.csv, task: task, target: y }
relation: { method: estimate, similarity: cosine, knn: 3 }
stages:
${stages ?? `  propagate: { method: laplacian, alpha: 0.5 }
  fuse: { method: weighted-mean, scope: per-task, weights: edges }
  optimize: { method: gd, lambda: 0.5, ridge: 0.1, epochs: 300 }`}
rounds: ${rounds}
`,
  );
  return { dir, spec: 'spec.yaml' };
}

export const manifest = (run: string): Manifest => JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8')) as Manifest;
export const sources = (run: string): Record<string, number> =>
  manifest(run).checkpoints!.reduce<Record<string, number>>((acc, c) => ({ ...acc, [c.source]: (acc[c.source] ?? 0) + 1 }), {});

export function expectSameFinalFiles(a: string, b: string): void {
  for (const f of FINAL) expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`).toBe(true);
}

