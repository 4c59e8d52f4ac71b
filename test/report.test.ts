/**
 * `weightshare report`: the pages are opened from file:// in headless Debian Chromium (playwright-core, never a
 * downloaded browser) with every request blocked and counted; charts are checked by the SVG marks they draw against
 * counts taken from results.json / summary.json, and every number in the page against those files.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { cli } from './helpers/cli.js';
import { scratch } from './helpers/run.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(tmpdir(), 'weightshare-test-artifacts');
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.log(`report browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does it)`);

const json = (f: string): any => JSON.parse(readFileSync(f, 'utf8'));
const only = (dir: string, prefix: string): string => join(dir, readdirSync(dir).find((n) => n.startsWith(prefix))!);
/** The value at a dotted path ("perTask.3.shared.mse"). */
const at = (o: unknown, key: string): unknown => key.split('.').reduce<any>((v, k) => (v == null ? undefined : v[k]), o);
const shown = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

let dir: string;
let run: string;
let sweep: string;
let school: string;
let mlp: string;

beforeAll(() => {
  dir = scratch('ws-report-');
  const r = cli(['run', 'pipelines/quickstart.yaml', '--out', join(dir, 'runs'), '--report']);
  expect(r.code, r.stderr).toBe(0);
  run = only(join(dir, 'runs'), 'quickstart-');
  const s = cli(['sweep', 'pipelines/quickstart.yaml', '--param', 'stages.optimize.lambda=0.1,1,10,100', '--jobs', '1', '--out', join(dir, 'sweeps'), '--report']);
  expect(s.code, s.stderr).toBe(0);
  sweep = only(join(dir, 'sweeps'), 'quickstart-sweep-');
  const sc = cli(['run', 'pipelines/school-mean-regularized.yaml', '--out', join(dir, 'school'), '--report']);
  expect(sc.code, sc.stderr).toBe(0);
  school = only(join(dir, 'school'), 'school-mean-regularized-');
  const m = cli(['run', 'pipelines/quickstart-mlp.yaml', '--out', join(dir, 'mlp'), '--report']);
  expect(m.code, m.stderr).toBe(0);
  mlp = only(join(dir, 'mlp'), 'quickstart-mlp-');
}, 180_000);

describe('weightshare report (files)', () => {
  it('run --report and sweep --report write one report.html into the folder, with no script, link or remote URL', () => {
    for (const d of [run, sweep, school]) {
      const html = readFileSync(join(d, 'report.html'), 'utf8');
      expect(html).not.toMatch(/<script|<link|<img|@import|url\((?!#)/i);
      expect(html).not.toMatch(/(src|href)="https?:/i);
      expect((html.match(/<svg /g) ?? []).length).toBeGreaterThan(0);
    }
  });

  it('a 139-task School report weighs under 2 MB and no chart draws more than 2,000 marks', () => {
    const bytes = statSync(join(school, 'report.html')).size;
    console.log(`School report: ${(bytes / 1024).toFixed(0)} KiB`);
    expect(bytes).toBeLessThan(2 * 1024 * 1024);
    const w = cli(['report', school, '--out', join(dir, 'school.html'), '--json']);
    expect(w.code, w.stderr).toBe(0);
    const charts = JSON.parse(w.stdout).charts as { id: string; marks: number; note?: string }[];
    for (const c of charts) expect(c.marks, c.id).toBeLessThanOrEqual(2000);
    // 139×139 relation cells and 28×139 weights are aggregated, and the page says so
    expect(charts.find((c) => c.id === 'relation')!.note).toMatch(/19321 cells/);
    expect(charts.find((c) => c.id === 'weights')!.note).toMatch(/3892 cells/);
  });

  it('a mistake is one paragraph and exit 2: not a run, a run not completed, a sweep not finished', () => {
    const plain = scratch('ws-report-plain-');
    const notRun = cli(['report', plain]);
    expect(notRun.code).toBe(2);
    expect(notRun.stderr).toMatch(/RUN_NOT_FOUND.*neither a run folder/);
    const running = join(dir, 'running');
    cpSync(run, running, { recursive: true });
    const m = json(join(running, 'manifest.json'));
    writeFileSync(join(running, 'manifest.json'), JSON.stringify({ ...m, status: 'running' }));
    const notDone = cli(['report', running]);
    expect(notDone.code).toBe(2);
    expect(notDone.stderr).toMatch(/INVALID_ARGUMENT.*is running; a report needs a completed run/);
    const unfinished = join(dir, 'unfinished');
    cpSync(sweep, unfinished, { recursive: true });
    rmSync(join(unfinished, 'summary.json'));
    const notFinished = cli(['report', unfinished]);
    expect(notFinished.code).toBe(2);
    expect(notFinished.stderr).toMatch(/has not finished/);
    for (const r of [notRun, notDone, notFinished]) {
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('weightshare runs compare', () => {
  it('lists the differing spec keys and every metric of each run and sweep, as JSON numbers', () => {
    const r = cli(['runs', 'compare', run, school, sweep, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(c.runs.map((x: any) => x.kind)).toEqual(['run', 'run', 'sweep']);
    const shared = (k: string) => c.metrics.find((m: any) => m.key === `shared.${k}`).values;
    expect(shared('mse')).toEqual([json(join(run, 'results.json')).models.shared.mse, json(join(school, 'results.json')).models.shared.mse, json(join(sweep, 'summary.json')).summary.shared.mse.mean]);
    expect(c.parameters.map((p: any) => p.key)).toContain('name');
    expect(c.parameters.find((p: any) => p.key === 'name').values).toEqual(['quickstart', 'school-mean-regularized', 'quickstart']);
    const one = cli(['runs', 'compare', run]);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/at least two/);
  });
});

describe.skipIf(!hasChromium)('weightshare report in Chromium (file://, network blocked)', () => {
  let browser: Browser;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 60_000);
  afterAll(async () => browser?.close());

  /** Opens a report; returns the page, the requests other than the page itself, console errors and load time. */
  async function open(file: string, shot: string) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const url = pathToFileURL(file).href;
    const requests: string[] = [];
    const errors: string[] = [];
    await page.route('**/*', (route) => (route.request().url() === url ? route.continue() : (requests.push(route.request().url()), route.abort())));
    page.on('request', (r) => r.url() !== url && !requests.includes(r.url()) && requests.push(r.url()));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    const t0 = performance.now();
    await page.goto(url, { waitUntil: 'load' });
    const ms = performance.now() - t0;
    await page.screenshot({ path: join(ARTIFACTS, shot), fullPage: true });
    expect(await page.locator('script').count()).toBe(0);
    return { page, requests, errors, ms };
  }
  /** Every number in the page equals the file's value at its data-key, as shown and exactly. */
  async function numbersMatch(page: import('playwright-core').Page, source: unknown): Promise<number> {
    const nums = await page.locator('[data-value]').evaluateAll((els) => els.map((e) => ({ key: e.getAttribute('data-key')!, value: e.getAttribute('data-value')!, text: e.textContent! })));
    for (const n of nums) {
      const v = at(source, n.key);
      expect(typeof v, n.key).toBe('number');
      expect(Number(n.value), n.key).toBe(v);
      expect(n.text, n.key).toBe(shown(v as number));
    }
    return nums.length;
  }
  const marks = (page: import('playwright-core').Page, chart: string, kind: string) => page.locator(`figure[data-chart="${chart}"] g.mark-${kind}.role-mark > path`).count();

  it('the run report: zero requests, zero console errors, every chart with the marks of its data, numbers equal results.json', async () => {
    const results = json(join(run, 'results.json'));
    const { page, requests, errors } = await open(join(run, 'report.html'), 'report-run.png');
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    const T = results.perTask.length;
    const d = results.data.features.length;
    expect(T).toBe(30);
    expect(await page.locator('figure[data-chart]').count()).toBe(9);
    expect(await marks(page, 'scatter-independent', 'symbol')).toBe(T);
    expect(await marks(page, 'scatter-pooled', 'symbol')).toBe(T);
    expect(await marks(page, 'relation', 'rect')).toBe(T * T);
    expect(await marks(page, 'weights', 'rect')).toBe(d * T);
    expect(await marks(page, 'targets', 'rect')).toBe(d * T);
    expect(await marks(page, 'objective', 'line')).toBe(4); // total, loss, penalty, ridge
    expect(await marks(page, 'test-per-round', 'line')).toBe(1);
    expect(await marks(page, 'objective', 'symbol')).toBe(4 * results.rounds.length);
    // the gains histogram counts every task once (bar heights are counts; the axis says so)
    expect(await marks(page, 'gains', 'rect')).toBeGreaterThan(0);
    // the lost tasks, computed here from results.json, are the ones the page lists
    const lost = results.perTask.filter((t: any) => t.shared.mse > t.independent.mse).map((t: any) => t.id);
    const listed = await page.locator('table[data-table="lost"] tbody tr td:first-child').allTextContents();
    expect(listed).toEqual(lost);
    expect(await page.locator('h3', { hasText: `Tasks that lost from sharing (${lost.length} of ${T})` }).count()).toBe(1);
    expect(await page.locator('[data-converged="true"]').count()).toBe(results.convergence.converged ? 1 : 0);
    expect(await numbersMatch(page, results)).toBeGreaterThan(30);
    // the resolved spec is shown as text
    expect(await page.locator('pre.spec').textContent()).toContain('"quickstart"');
    await page.close();
  });

  it('an mlp run report: the training curves, one line per round, and the numbers equal results.json', async () => {
    const results = json(join(mlp, 'results.json'));
    const { page, requests, errors } = await open(join(mlp, 'report.html'), 'report-mlp.png');
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    const rounds = results.rounds.filter((r: any) => r.diagnostics?.optimize?.curve?.length).length;
    expect(rounds).toBe(results.rounds.length);
    expect(await marks(page, 'training-curves', 'line')).toBe(rounds);
    expect(await marks(page, 'scatter-independent', 'symbol')).toBe(results.perTask.length);
    expect(await numbersMatch(page, results)).toBeGreaterThan(30);
    await page.close();
  });

  it('the sweep report: a line per split with the chosen candidate marked on a log axis, numbers equal summary.json', async () => {
    const summary = json(join(sweep, 'summary.json'));
    const plan = json(join(sweep, 'sweep.json'));
    const { page, requests, errors } = await open(join(sweep, 'report.html'), 'report-sweep.png');
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    const n = summary.splits.reduce((s: number, sp: any) => s + sp.candidates.length, 0);
    // the line layer's points, then one diamond per split for the chosen value
    expect(await marks(page, 'sweep-stages.optimize.lambda', 'symbol')).toBe(n + summary.splits.length);
    expect(await marks(page, 'sweep-stages.optimize.lambda', 'line')).toBe(summary.splits.length);
    expect(await page.locator('figure[data-chart="sweep-stages.optimize.lambda"] svg').textContent()).toContain('(log scale)');
    expect(await page.locator('table[data-table="splits"] tbody tr').count()).toBe(summary.splits.length);
    expect(await numbersMatch(page, { ...summary, sweep: plan.sweep })).toBeGreaterThan(10);
    await page.close();
  });

  it('the compare page: one overlaid objective curve per run, numbers equal results.json', async () => {
    const out = join(dir, 'compare.html');
    const r = cli(['runs', 'compare', run, school, '--html', out]);
    expect(r.code, r.stderr).toBe(0);
    const { page, requests, errors } = await open(out, 'compare.png');
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    expect(await marks(page, 'objectives', 'line')).toBe(2);
    const results = [json(join(run, 'results.json')), json(join(school, 'results.json'))];
    const nums = await page.locator('[data-value]').evaluateAll((els) => els.map((e) => ({ key: e.getAttribute('data-key')!, run: Number(e.getAttribute('data-run')), value: Number(e.getAttribute('data-value')) })));
    expect(nums.length).toBeGreaterThan(20);
    for (const n of nums) expect(n.value, n.key).toBe(at(results[n.run]!.models, n.key));
    await page.close();
  });

  it('the 139-task School report loads in Chromium with no request and no error (its load time is printed)', async () => {
    const { page, requests, errors, ms } = await open(join(school, 'report.html'), 'report-school.png');
    console.log(`School report: loaded in ${ms.toFixed(0)} ms`);
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    const results = json(join(school, 'results.json'));
    expect(await marks(page, 'scatter-independent', 'symbol')).toBe(results.perTask.length);
    for (const c of ['relation', 'weights', 'targets']) expect(await marks(page, c, 'rect')).toBeLessThanOrEqual(2000);
    await numbersMatch(page, results);
    await page.close();
  });
});
