/** The report's chart helpers: spectral task order on a hand-made two-cluster graph, and heatmap aggregation. */
import { describe, expect, it } from 'vitest';
import { heatmap, MAX_MARKS } from '../packages/cli/src/report-charts.js';
import { spectralOrder } from '../packages/cli/src/report-order.js';

describe('spectralOrder', () => {
  it('puts the tasks of each cluster next to each other when the clusters are interleaved', () => {
    // tasks 0,2,4,6 form one clique, 1,3,5,7 another; one weak edge 0–1 keeps the graph connected
    const T = 8;
    const data = new Float64Array(T * T);
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) if (i !== j && i % 2 === j % 2) data[i * T + j] = 1;
    data[0 * T + 1] = data[1 * T + 0] = 0.05;
    const { order } = spectralOrder({ rows: T, data });
    const first = new Set(order.slice(0, 4).map((k) => k % 2));
    const second = new Set(order.slice(4).map((k) => k % 2));
    expect(first.size).toBe(1);
    expect(second.size).toBe(1);
    expect([...first][0]).not.toBe([...second][0]);
  });

  it('keeps the tasks\' order for a relation without edges (identity)', () => {
    const T = 5;
    const data = new Float64Array(T * T);
    for (let i = 0; i < T; i++) data[i * T + i] = 1;
    const o = spectralOrder({ rows: T, data });
    expect(o.order).toEqual([0, 1, 2, 3, 4]);
    expect(o.how).toMatch(/no edges/);
  });
});

describe('heatmap', () => {
  const count = (svg: string): number => {
    const start = svg.indexOf('class="mark-rect role-mark');
    return (svg.slice(start, svg.indexOf('</g>', start)).match(/<path/g) ?? []).length;
  };

  it('draws one cell per entry up to the limit', async () => {
    const c = await heatmap('h', 'h', { rows: 3, cols: 4, at: (i, j) => i * 4 + j }, { rows: ['a', 'b', 'c'], cols: ['1', '2', '3', '4'], rowTitle: 'r', colTitle: 'c', value: 'v' });
    expect(c.marks).toBe(12);
    expect(count(c.svg)).toBe(12);
    expect(c.note).toBeUndefined();
  });

  it('beyond the limit, draws block means and says so', async () => {
    const n = 50; // 2,500 cells → blocks of 2×2 → 625 cells
    const c = await heatmap('h', 'h', { rows: n, cols: n, at: (i, j) => i + j }, { rows: Array.from({ length: n }, (_, i) => `t${i}`), cols: Array.from({ length: n }, (_, i) => `t${i}`), rowTitle: 'task', colTitle: 'task', value: 'v' });
    expect(c.marks).toBe(625);
    expect(c.marks).toBeLessThanOrEqual(MAX_MARKS);
    expect(count(c.svg)).toBe(625);
    expect(c.note).toMatch(/2500 cells are more than 2000.*block of 2 task × 2 task/);
  });
});
