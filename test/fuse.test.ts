/** fuse methods of plugin-cpu on a hand-worked case. */
import { describe, expect, it } from 'vitest';
import { InProcessExecutor, Rng, fromRows, type FuseOutput, type StageContext } from '@weightshare/framework';
import { cpuPlugin } from '@weightshare/plugin-cpu';

const ctx: StageContext = { round: 1, rng: new Rng(1), executor: new InProcessExecutor(), cache: new Map(), purpose: 'stage' };
// 4 tasks, 2 weights each.
const C = fromRows([
  [1, 10],
  [2, 20],
  [4, 40],
  [9, -5],
]);
// Path graph 1–2–3 with weights 1 and 3; task 4 isolated.
const A = fromRows([
  [1, 1, 0, 0],
  [1, 1, 3, 0],
  [0, 3, 1, 0],
  [0, 0, 0, 1],
]);
const sizes = [10, 30, 20, 40];
const fuse = (method: string, options: Record<string, unknown>): FuseOutput =>
  cpuPlugin.stages.fuse![method]!.run({ propagated: C, relation: A, taskSizes: sizes }, options, ctx) as FuseOutput;
const rowsOf = (o: FuseOutput): number[][] => Array.from({ length: 4 }, (_, t) => Array.from(o.targets.data.subarray(t * 2, t * 2 + 2)));

describe('fuse, global scope', () => {
  it.each([
    ['mean', [4, 16.25]],
    ['median', [3, 15]],
    ['max', [9, 40]],
    ['min', [1, -5]],
  ])('%s', (method, e) => {
    const out = fuse(method, { scope: 'global' });
    for (const r of rowsOf(out)) expect(r).toEqual(e);
    expect(Array.from(out.penaltyWeights)).toEqual([1, 1, 1, 1]);
  });

  it('mean: the one-pass sum over rows gives the per-column mean bit for bit (tasks added in order), on awkward values', () => {
    const rng = new Rng(5);
    const T = 37, d = 11;
    // magnitudes from 1e-8 to 1e8 and mixed signs: any other order of the additions rounds differently
    const big = { rows: T, cols: d, data: Float64Array.from({ length: T * d }, () => rng.normal() * 10 ** Math.round(16 * rng.next() - 8)) };
    const out = cpuPlugin.stages.fuse!.mean!.run({ propagated: big, relation: fromRows(Array.from({ length: T }, () => new Array<number>(T).fill(0))), taskSizes: new Array<number>(T).fill(1) }, { scope: 'global' }, ctx) as FuseOutput;
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += big.data[t * d + j]!;
      for (let t = 0; t < T; t++) expect(Object.is(out.targets.data[t * d + j], s / T), `E[${t}][${j}]`).toBe(true);
    }
    expect(out.targets.data.buffer).not.toBe(big.data.buffer);
    expect(Array.from(out.penaltyWeights)).toEqual(new Array<number>(T).fill(1));
  });

  it('weighted-mean by task sizes: E = Σ n_t C_t / Σ n_t, penalty weights n_t / mean(n)', () => {
    const out = fuse('weighted-mean', { scope: 'global', weights: 'sizes' });
    // Σn = 100: E = (10·1 + 30·2 + 20·4 + 40·9)/100, (10·10 + 30·20 + 20·40 − 40·5)/100
    expect(rowsOf(out)[0]![0]).toBeCloseTo(5.1, 12);
    expect(rowsOf(out)[0]![1]).toBeCloseTo(13, 12);
    expect(Array.from(out.penaltyWeights)).toEqual([0.4, 1.2, 0.8, 1.6]);
  });

  it('weighted-mean by relation degree and by given values', () => {
    const deg = fuse('weighted-mean', { scope: 'global', weights: 'degree' }); // degrees 1, 4, 3, 0
    expect(rowsOf(deg)[2]![0]).toBeCloseTo((1 * 1 + 4 * 2 + 3 * 4) / 8, 12);
    const given = fuse('weighted-mean', { scope: 'global', weights: 'given', values: [0, 0, 1, 1] });
    expect(rowsOf(given)[1]).toEqual([6.5, 17.5]);
    expect(() => fuse('weighted-mean', { scope: 'global', weights: 'given', values: [1] })).toThrow(/one weight per task/);
  });
});

describe('fuse identity', () => {
  it('E = C with penalty weights 1, not aliasing C', () => {
    const out = fuse('identity', {});
    expect(rowsOf(out)).toEqual([
      [1, 10],
      [2, 20],
      [4, 40],
      [9, -5],
    ]);
    expect(out.targets.data).not.toBe(C.data);
    expect(Array.from(out.penaltyWeights)).toEqual([1, 1, 1, 1]);
  });
});

describe('fuse, per-task scope (neighbours in A)', () => {
  it('mean over neighbours; an isolated task keeps its own row with penalty 0', () => {
    const out = fuse('mean', { scope: 'per-task' });
    expect(rowsOf(out)).toEqual([
      [2, 20],
      [2.5, 25],
      [2, 20],
      [9, -5],
    ]);
    expect(Array.from(out.penaltyWeights)).toEqual([1, 1, 1, 0]);
  });

  it('weighted-mean with edge weights: E_t = Σ a_ts C_s / deg_t, c_t = deg_t (graph regularization)', () => {
    const out = fuse('weighted-mean', { scope: 'per-task', weights: 'edges' });
    expect(rowsOf(out)[1]).toEqual([(1 * 1 + 3 * 4) / 4, (1 * 10 + 3 * 40) / 4]);
    expect(Array.from(out.penaltyWeights)).toEqual([1, 4, 3, 0]);
  });

  it('median, max and min over neighbours', () => {
    expect(rowsOf(fuse('max', { scope: 'per-task' }))[1]).toEqual([4, 40]);
    expect(rowsOf(fuse('min', { scope: 'per-task' }))[1]).toEqual([1, 10]);
    expect(rowsOf(fuse('median', { scope: 'per-task' }))[1]).toEqual([2.5, 25]);
  });

  it('negative relation weights are refused in per-task scope', () => {
    const N = fromRows([
      [1, -1],
      [-1, 1],
    ]);
    const run = (): unknown =>
      cpuPlugin.stages.fuse!.mean!.run({ propagated: fromRows([[1], [2]]), relation: N, taskSizes: [1, 1] }, { scope: 'per-task' }, ctx);
    expect(run).toThrow(expect.objectContaining({ code: 'RELATION_INVALID' }));
  });
});
