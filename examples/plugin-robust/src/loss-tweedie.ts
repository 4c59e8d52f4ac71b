import type { LossComponent } from '@weightshare/framework';

/** ρ of the Tweedie loss. */
const powerOf = (o: Record<string, unknown>): number => (o.power as number | undefined) ?? 1.5;

/**
 * The Tweedie loss with a log link, for non-negative targets with many exact zeros (insurance claims, rainfall):
 * the negative log-likelihood of a Tweedie distribution with power ρ ∈ (1, 2), up to terms free of z,
 *   L(y, z) = −y·e^((1−ρ)z)/(1−ρ) + e^((2−ρ)z)/(2−ρ),
 * whose minimizer over z is log y (the mean is e^z). ρ → 1 approaches the Poisson loss, ρ → 2 the Gamma loss.
 */
export const tweedieLoss: LossComponent = {
  description: 'Tweedie loss with a log link, power ρ in (1, 2): non-negative targets with many zeros.',
  options: {
    power: { type: 'number', exclusiveMinimum: 1, exclusiveMaximum: 2, default: 1.5, description: 'ρ in (1, 2): 1 is Poisson-like, 2 Gamma-like.' },
  },
  target: 'count',
  checkLabel: (y) => (y >= 0 ? undefined : `the Tweedie loss needs targets ≥ 0, found ${y}`),
  value(y, Z, _k, grad, o) {
    const r = powerOf(o);
    let s = 0;
    for (let i = 0; i < y.length; i++) {
      const a = Math.exp((1 - r) * Z[i]!);
      const b = Math.exp((2 - r) * Z[i]!);
      s += (-y[i]! * a) / (1 - r) + b / (2 - r);
      if (grad) grad[i] = -y[i]! * a + b;
    }
    return s;
  },
  curvature(y, Z, _k, out, o) {
    const r = powerOf(o);
    for (let i = 0; i < y.length; i++) out[i] = -y[i]! * (1 - r) * Math.exp((1 - r) * Z[i]!) + (2 - r) * Math.exp((2 - r) * Z[i]!);
  },
  link(Z, _k, out) {
    for (let i = 0; i < out.length; i++) out[i] = Math.exp(Z[i]!);
  },
};
