/**
 * Names of a model's parameters, the columns of every T×p parameter matrix written to CSV (weights, targets, init
 * files): a one-output linear model's are the feature names (as they always were); a K-output linear model's are
 * `feature:class`; any other model's are `block[i]` in θ's order.
 */
import type { ModelInfo } from '../plugin/types.js';

export function parameterNames(model: Pick<ModelInfo, 'layout'>, features: readonly string[], classes?: readonly (string | number)[]): string[] {
  const { layout } = model;
  if (layout.linear && layout.outputs === 1) return [...features];
  if (layout.linear) {
    const out: string[] = [];
    for (const f of features) for (let c = 0; c < layout.outputs; c++) out.push(`${f}:${classes?.[c] ?? c}`);
    return out;
  }
  const out: string[] = [];
  for (const b of layout.blocks) for (let i = 0; i < b.size; i++) out.push(`${b.name}[${i}]`);
  return out;
}
