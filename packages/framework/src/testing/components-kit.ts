/**
 * The conformance kit's checks of a plugin's losses and models: gradients against central finite differences,
 * curvature against differences of the gradient, label checks, the inverse link, metrics on a known case, the
 * parameter layout and a seeded initialization; and that none of them writes to its inputs.
 */
import { scoreOutputs } from '../eval/metrics.js';
import type { LossComponent, ModelComponent, TargetKind } from '../plugin/types.js';
import { Rng } from '../random.js';

type Check = (name: string, run: () => void | Promise<void>) => void;

class ComponentError extends Error {
  override readonly name = 'ConformanceError';
}
function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new ComponentError(message);
}

function defaults(options: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(options)) if ((s as { default?: unknown }).default !== undefined) out[k] = (s as { default: unknown }).default;
  return out;
}

/** Labels of a target kind, n rows (multiclass: k classes). */
function labels(kind: TargetKind, n: number, k: number, rng: Rng): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = kind === 'regression' ? 2 * rng.normal() : kind === 'binary' ? rng.int(2) : kind === 'count' ? rng.poisson(2) : rng.int(k);
  return y;
}

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(1, Math.abs(a), Math.abs(b));

/** Checks of one loss. */
export function lossChecks(name: string, loss: LossComponent, add: Check): void {
  const o = defaults(loss.options);
  const k = loss.target === 'multiclass' ? 3 : 1;
  const n = 9;
  const rng = new Rng(41);
  const y = labels(loss.target, n, k, rng);
  const Z = Float64Array.from({ length: n * k }, () => 0.8 * rng.normal());
  add(`loss ${name}: gradient agrees with central finite differences`, () => {
    const g = new Float64Array(n * k);
    const yc = new Float64Array(y);
    const zc = new Float64Array(Z);
    const f = loss.value(yc, zc, k, g, o);
    check(Number.isFinite(f), `loss ${name}: value ${f} at moderate outputs is not finite`);
    check(yc.every((v, i) => Object.is(v, y[i])) && zc.every((v, i) => Object.is(v, Z[i])), `loss ${name}: value() wrote to its inputs y or Z`);
    for (let i = 0; i < n * k; i++) {
      const h = 1e-6 * Math.max(1, Math.abs(Z[i]!));
      const up = new Float64Array(Z);
      const down = new Float64Array(Z);
      up[i]! += h;
      down[i]! -= h;
      const fd = (loss.value(y, up, k, null, o) - loss.value(y, down, k, null, o)) / (2 * h);
      check(rel(fd, g[i]!) <= 1e-6, `loss ${name}: ∂L/∂z[${i}] is ${g[i]} but central differences give ${fd}`);
    }
  });
  if (loss.curvature)
    add(`loss ${name}: curvature agrees with differences of the gradient`, () => {
      const C = new Float64Array(n * k * k);
      loss.curvature!(y, Z, k, C, o);
      for (let i = 0; i < n; i++)
        for (let a = 0; a < k; a++) {
          const h = 1e-6;
          const up = new Float64Array(Z);
          const down = new Float64Array(Z);
          up[i * k + a]! += h;
          down[i * k + a]! -= h;
          const gu = new Float64Array(n * k);
          const gd = new Float64Array(n * k);
          loss.value(y, up, k, gu, o);
          loss.value(y, down, k, gd, o);
          for (let b = 0; b < k; b++) {
            const fd = (gu[i * k + b]! - gd[i * k + b]!) / (2 * h);
            const got = C[i * k * k + a * k + b]!;
            check(Math.abs(fd - got) <= 1e-5 * Math.max(1, Math.abs(fd)), `loss ${name}: curvature of row ${i} [${a}][${b}] is ${got} but differences of the gradient give ${fd}`);
          }
        }
    });
  add(`loss ${name}: the inverse link gives predictions of the target's kind`, () => {
    const P = new Float64Array(n * k);
    loss.link(Z, k, P, o);
    check(P.every(Number.isFinite), `loss ${name}: link() gave a non-finite prediction`);
    if (loss.target === 'binary') check(P.every((p) => p >= 0 && p <= 1), `loss ${name}: a binary loss's link must give probabilities in [0, 1]`);
    if (loss.target === 'count') check(P.every((p) => p >= 0), `loss ${name}: a count loss's link must give means ≥ 0`);
    if (loss.target === 'multiclass')
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let c = 0; c < k; c++) s += P[i * k + c]!;
        check(Math.abs(s - 1) < 1e-12, `loss ${name}: row ${i}'s class probabilities sum to ${s}, not 1`);
      }
  });
  add(`loss ${name}: rejects labels of the wrong kind`, () => {
    if (loss.target === 'count') check(loss.checkLabel?.(-1, o) ?? true, `loss ${name}: a count loss must reject a negative label (checkLabel(-1) returned nothing); the framework rejects it anyway, but say why in your own words`);
    if (loss.checkLabel) check(loss.checkLabel(loss.target === 'regression' ? 1.5 : 1, o) === undefined, `loss ${name}: checkLabel refused a valid label`);
  });
  add(`loss ${name}: metrics of outputs that fit perfectly are what they must be`, () => {
    // outputs whose predictions are the labels (or near-certain of them): the loss's own error metrics are ~0
    const perfect = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      if (loss.target === 'multiclass') for (let c = 0; c < k; c++) perfect[i * k + c] = c === y[i] ? 30 : -30;
      else if (loss.target === 'binary') perfect[i] = y[i] === 1 ? 30 : -30;
      else {
        // the output whose prediction is y, found by bisection on the link (monotone for these kinds)
        let lo = -50;
        let hi = 50;
        const one = new Float64Array(1);
        const out = new Float64Array(1);
        for (let it = 0; it < 200; it++) {
          one[0] = (lo + hi) / 2;
          loss.link(one, 1, out, o);
          if (out[0]! < Math.max(y[i]!, 1e-300)) lo = one[0];
          else hi = one[0];
        }
        perfect[i] = (lo + hi) / 2;
      }
    }
    const ev = scoreOutputs([{ id: 't', y }], [perfect], {
      loss: { name, component: loss, options: o },
      model: { component: null as never, layout: { features: 1, outputs: k, size: k, blocks: [], penalized: new Uint8Array(k), linear: true }, options: {} },
    }).overall as unknown as Record<string, number>;
    if (loss.target === 'multiclass' || loss.target === 'binary') check(ev.accuracy === 1, `loss ${name}: perfect outputs scored accuracy ${ev.accuracy}`);
    else check(ev.mae! < 1e-6, `loss ${name}: outputs whose predictions are the labels scored MAE ${ev.mae}`);
  });
}

/** Checks of one model family. */
export function modelChecks(name: string, model: ModelComponent, add: Check): void {
  const o = defaults(model.options);
  for (const [d, k] of [
    [4, 1],
    [3, 3],
  ] as const) {
    const layout = model.layout({ features: d, outputs: k, biasColumn: d - 1 }, o);
    add(`model ${name} (d = ${d}, k = ${k}): the layout is consistent`, () => {
      check(layout.features === d && layout.outputs === k, `model ${name}: layout says ${layout.features} features and ${layout.outputs} outputs, asked for ${d} and ${k}`);
      check(layout.penalized instanceof Uint8Array && layout.penalized.length === layout.size, `model ${name}: layout.penalized must be a Uint8Array of length p = ${layout.size}`);
      const covered = new Uint8Array(layout.size);
      for (const b of layout.blocks) {
        check(b.offset >= 0 && b.offset + b.size <= layout.size, `model ${name}: block ${b.name} [${b.offset}, ${b.offset + b.size}) lies outside θ (p = ${layout.size})`);
        check(b.shape.reduce((a, x) => a * x, 1) === b.size, `model ${name}: block ${b.name} has shape ${b.shape.join('×')} but size ${b.size}`);
        for (let j = b.offset; j < b.offset + b.size; j++) {
          check(!covered[j], `model ${name}: entry ${j} of θ is in two blocks`);
          covered[j] = 1;
        }
      }
      check(covered.every((c) => c === 1), `model ${name}: the blocks do not cover every entry of θ`);
    });
    add(`model ${name} (d = ${d}, k = ${k}): the initialization is seeded`, () => {
      const a = model.init(layout, new Rng(7), o);
      const b = model.init(layout, new Rng(7), o);
      check(a instanceof Float64Array && a.length === layout.size, `model ${name}: init must return a Float64Array of length p = ${layout.size}`);
      check(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), `model ${name}: two inits with the same seed differ`);
      check(a.every(Number.isFinite), `model ${name}: init gave a non-finite parameter`);
    });
    add(`model ${name} (d = ${d}, k = ${k}): the backward pass agrees with central finite differences`, () => {
      const rng = new Rng(43);
      const n = 6;
      const X = Float64Array.from({ length: n * d }, (_, i) => (i % d === d - 1 ? 1 : rng.normal()));
      const theta = Float64Array.from({ length: layout.size }, () => 0.5 * rng.normal());
      const dZ = Float64Array.from({ length: n * k }, () => rng.normal());
      const Z = new Float64Array(n * k);
      const Xc = new Float64Array(X);
      const tc = new Float64Array(theta);
      const tape = model.forward(layout, theta, X, n, Z, o);
      const g = new Float64Array(layout.size);
      model.backward(layout, theta, X, n, tape, dZ, g, o);
      check(Buffer.from(Xc.buffer).equals(Buffer.from(X.buffer)) && Buffer.from(tc.buffer).equals(Buffer.from(theta.buffer)), `model ${name}: forward/backward wrote to X or θ`);
      const dot = (th: Float64Array): number => {
        const z = new Float64Array(n * k);
        model.forward(layout, th, X, n, z, o);
        let s = 0;
        for (let i = 0; i < z.length; i++) s += z[i]! * dZ[i]!;
        return s;
      };
      for (let j = 0; j < layout.size; j++) {
        const h = 1e-6;
        const up = new Float64Array(theta);
        const down = new Float64Array(theta);
        up[j]! += h;
        down[j]! -= h;
        const fd = (dot(up) - dot(down)) / (2 * h);
        check(Math.abs(fd - g[j]!) <= 1e-6 * Math.max(1, Math.abs(fd)), `model ${name}: ∂/∂θ[${j}] is ${g[j]} but central differences give ${fd}`);
      }
    });
  }
}
