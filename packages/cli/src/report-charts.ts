/**
 * Charts of the HTML report: data → Vega-Lite spec → static SVG, rendered in Node by `vega` (no browser, no canvas),
 * so the page shows its charts with scripts blocked. One small function per chart kind; every colour scale is viridis
 * (perceptually uniform, ordered in grey), and no chart draws more than {@link MAX_MARKS} marks raw.
 */
import type { TopLevelSpec } from 'vega-lite';

/** vega and vega-lite are loaded on the first chart (they are most of the CLI's start-up time otherwise). */
let renderers: Promise<[typeof import('vega'), typeof import('vega-lite')]> | undefined;

/** The most marks a chart draws one by one; beyond that, the data is aggregated (and the page says so). */
export const MAX_MARKS = 2000;

/** A rendered chart: its SVG, the number of data marks it draws, and a note when the data was aggregated. */
export interface Chart {
  id: string;
  title: string;
  svg: string;
  marks: number;
  note?: string;
}

const config = {
  font: 'sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  view: { stroke: '#ccc' },
};

/** Compiles a Vega-Lite spec and renders it to an SVG string in Node. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const [vega, { compile }] = await (renderers ??= Promise.all([import('vega'), import('vega-lite')]));
  const { spec: vg } = compile({ config, background: 'white', ...spec } as unknown as TopLevelSpec);
  const view = new vega.View(vega.parse(vg), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Lines over rounds, one per series (`values`: {round, series, value}). */
export async function lineChart(id: string, title: string, values: { round: number; series: string; value: number }[], yTitle: string): Promise<Chart> {
  const series = [...new Set(values.map((v) => v.series))];
  const svg = await renderSvg({
    width: 520,
    height: 220,
    data: { values },
    mark: { type: 'line', point: values.length / Math.max(1, series.length) <= 60 },
    encoding: {
      x: { field: 'round', type: 'quantitative', title: 'round', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null, scale: { scheme: 'viridis' }, sort: series },
      strokeDash: { field: 'series', type: 'nominal', title: null, sort: series },
    },
  });
  return { id, title, svg, marks: series.length };
}

/** Training curves: the summed objective per epoch, one line per round (`curves` sampled to at most 12 rounds). */
export async function curveChart(id: string, title: string, curves: { round: number; every: number; values: readonly number[] }[]): Promise<Chart> {
  const values = curves.flatMap((c) => c.values.map((v, i) => ({ epoch: i * c.every + 1, series: `round ${c.round}`, value: v })));
  const series = curves.map((c) => `round ${c.round}`);
  const svg = await renderSvg({
    width: 520,
    height: 220,
    data: { values },
    mark: { type: 'line' },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch within the round' },
      y: { field: 'value', type: 'quantitative', title: 'objective (sum over tasks)', scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null, scale: { scheme: 'viridis' }, sort: series },
    },
  });
  return { id, title, svg, marks: series.length };
}

/**
 * Per-task error of the shared model (y) against another model (x), one point per task, the diagonal y = x drawn;
 * tasks above the diagonal lost from sharing (drawn as crosses, in the light end of the scale).
 */
export async function errorScatter(id: string, title: string, points: { task: string; x: number; y: number }[], xTitle: string, yTitle: string): Promise<Chart> {
  const values = points.map((p) => ({ ...p, outcome: p.y > p.x ? 'lost from sharing' : 'gained or equal' }));
  const all = points.flatMap((p) => [p.x, p.y]);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const svg = await renderSvg({
    width: 360,
    height: 360,
    layer: [
      {
        data: { values: [{ x: lo, y: lo }, { x: hi, y: hi }] },
        mark: { type: 'line', color: '#888', strokeDash: [4, 3] },
        encoding: { x: { field: 'x', type: 'quantitative', scale: { zero: false } }, y: { field: 'y', type: 'quantitative', scale: { zero: false } } },
      },
      {
        data: { values },
        mark: { type: 'point', filled: true, size: 40, opacity: 0.85 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: xTitle, scale: { zero: false } },
          y: { field: 'y', type: 'quantitative', title: yTitle, scale: { zero: false } },
          color: { field: 'outcome', type: 'nominal', title: null, scale: { domain: ['gained or equal', 'lost from sharing'], range: ['#440154', '#fde725'] } },
          stroke: { value: '#333' },
          strokeWidth: { value: 0.5 },
          shape: { field: 'outcome', type: 'nominal', title: null, scale: { domain: ['gained or equal', 'lost from sharing'], range: ['circle', 'cross'] } },
          tooltip: [{ field: 'task' }, { field: 'x', title: xTitle }, { field: 'y', title: yTitle }],
        },
      },
    ],
  });
  return { id, title, svg, marks: points.length };
}

/** A histogram of `values` (bars; at most 40 bins). */
export async function histogram(id: string, title: string, values: number[], xTitle: string, discrete = false): Promise<Chart> {
  const svg = await renderSvg({
    width: 360,
    height: 200,
    data: { values: values.map((v) => ({ v })) },
    mark: { type: 'bar', color: '#31688e' },
    encoding: {
      x: discrete ? { field: 'v', type: 'ordinal', title: xTitle } : { field: 'v', type: 'quantitative', bin: { maxbins: 40 }, title: xTitle },
      y: { aggregate: 'count', type: 'quantitative', title: 'tasks' },
    },
  });
  const bars = (svg.match(/<path[^>]*aria-roledescription="bar"/g) ?? []).length;
  return { id, title, svg, marks: bars };
}

/**
 * A heatmap of a rows × cols matrix (row i labelled rowLabels[i]). When it has more than MAX_MARKS cells, columns
 * (and then rows) are grouped into consecutive blocks and each block shows its mean; the note says how.
 */
export async function heatmap(
  id: string,
  title: string,
  m: { rows: number; cols: number; at: (i: number, j: number) => number },
  labels: { rows: string[]; cols: string[]; rowTitle: string; colTitle: string; value: string },
): Promise<Chart> {
  let rb = 1;
  let cb = 1;
  const cells = (): number => Math.ceil(m.rows / rb) * Math.ceil(m.cols / cb);
  // group the longer side first, so that blocks stay as square as the shape allows (a square matrix: both alike)
  while (cells() > MAX_MARKS) {
    if (m.rows === m.cols) rb = ++cb;
    else if (Math.ceil(m.cols / cb) >= Math.ceil(m.rows / rb)) cb++;
    else rb++;
  }
  const R = Math.ceil(m.rows / rb);
  const C = Math.ceil(m.cols / cb);
  const span = (labelsOf: string[], k: number, b: number, n: number): string => (b === 1 ? labelsOf[k]! : `${labelsOf[k * b]}…${labelsOf[Math.min(n, (k + 1) * b) - 1]}`);
  const values: { r: string; c: string; ri: number; ci: number; v: number }[] = [];
  for (let i = 0; i < R; i++)
    for (let j = 0; j < C; j++) {
      let s = 0;
      let n = 0;
      for (let a = i * rb; a < Math.min(m.rows, (i + 1) * rb); a++)
        for (let b = j * cb; b < Math.min(m.cols, (j + 1) * cb); b++) {
          s += m.at(a, b);
          n++;
        }
      values.push({ r: span(labels.rows, i, rb, m.rows), c: span(labels.cols, j, cb, m.cols), ri: i, ci: j, v: s / n });
    }
  const size = (n: number): number => Math.max(4, Math.min(16, Math.floor(560 / n)));
  const axis = (n: number): Record<string, unknown> => (n > 40 ? { labels: false, ticks: false } : { labelFontSize: 9 });
  const svg = await renderSvg({
    width: size(C) * C,
    height: size(R) * R,
    data: { values },
    // no per-cell aria labels: at 2,000 cells they would be most of the page's weight
    mark: { type: 'rect', aria: false },
    encoding: {
      x: { field: 'c', type: 'ordinal', title: labels.colTitle + (cb > 1 ? ` (blocks of ${cb})` : ''), sort: { field: 'ci' }, axis: axis(C) },
      y: { field: 'r', type: 'ordinal', title: labels.rowTitle + (rb > 1 ? ` (blocks of ${rb})` : ''), sort: { field: 'ri' }, axis: axis(R) },
      color: { field: 'v', type: 'quantitative', title: labels.value, scale: { scheme: 'viridis' } },
    },
  });
  const note =
    rb > 1 || cb > 1
      ? `${m.rows}×${m.cols} = ${m.rows * m.cols} cells are more than ${MAX_MARKS}: each cell shows the mean of a block of ${rb} ${labels.rowTitle} × ${cb} ${labels.colTitle} (${R}×${C} cells).`
      : undefined;
  return { id, title, svg, marks: R * C, ...(note ? { note } : {}) };
}

/**
 * Validation score against one swept parameter, one line per outer split, the chosen candidate of each split marked
 * (a larger diamond); a log x axis when the grid is logarithmic.
 */
export async function sweepChart(
  id: string,
  title: string,
  points: { split: string; x: number; y: number; chosen: boolean }[],
  param: string,
  metric: string,
  log: boolean,
): Promise<Chart> {
  const splits = [...new Set(points.map((p) => p.split))];
  const enc = {
    x: { field: 'x', type: 'quantitative', title: param + (log ? ' (log scale)' : ''), scale: log ? { type: 'log' } : { zero: false } },
    y: { field: 'y', type: 'quantitative', title: `validation ${metric}`, scale: { zero: false } },
    color: { field: 'split', type: 'nominal', title: 'outer split', scale: { scheme: 'viridis' }, sort: splits },
  };
  const svg = await renderSvg({
    width: 480,
    height: 260,
    layer: [
      { data: { values: points }, mark: { type: 'line', point: { filled: true, size: 30 } }, encoding: enc },
      {
        data: { values: points.filter((p) => p.chosen) },
        mark: { type: 'point', shape: 'diamond', size: 160, filled: false, strokeWidth: 2 },
        encoding: { ...enc, color: { value: '#000' } },
      },
    ],
  });
  return { id, title, svg, marks: points.length };
}
