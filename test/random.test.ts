/** The seeded PRNG: xoshiro128** seeded by SplitMix32, checked against an independent implementation. */
import { describe, expect, it } from 'vitest';
import { Rng } from '@weightshare/framework';

describe('Rng', () => {
  it('matches reference outputs of xoshiro128** seeded by SplitMix32 (computed with a separate Python implementation)', () => {
    const r = new Rng(42);
    expect(Array.from({ length: 6 }, () => r.nextUint32())).toEqual([2837322924, 544945897, 479756282, 3500138142, 339756180, 113173290]);
    expect(new Rng(42).next()).toBe(0.6606157208001621);
  });

  it('forks are independent of draw order and of each other', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    b.next();
    b.next();
    expect(a.fork('split/task-1').next()).toBe(b.fork('split/task-1').next());
    expect(a.fork('x').next()).not.toBe(a.fork('y').next());
  });

  it('uniform, integer and normal draws have the right moments', () => {
    const r = new Rng(1);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let u = 0;
    const counts = new Array<number>(5).fill(0);
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
      u += r.next();
      counts[r.int(5)]!++;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.01);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.02);
    expect(Math.abs(u / n - 0.5)).toBeLessThan(0.005);
    for (const c of counts) expect(Math.abs(c / n - 0.2)).toBeLessThan(0.005);
    const p = r.permutation(50);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
