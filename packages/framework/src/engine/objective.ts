/**
 * Which objective the rounds minimize, and its value.
 *
 * The rounds alternate E = fuse(propagate(W)) and W = argmin Σ_t L_t(w_t) + ρ‖Pw_t‖² + λ c_t ‖w_t − E_t‖². When the
 * composition is linear, E(W) = M W, and the matrix K = diag(c)(I − M) is symmetric positive semi-definite, the
 * fixed points of this alternation are exactly the stationary points of
 *
 *   J(W) = Σ_t L_t(w_t) + ρ Σ_t ‖P w_t‖² + λ tr(Wᵀ K W) = … + λ Σ_t c_t ⟨w_t, w_t − E_t(W)⟩,
 *
 * and for squared loss with the exact optimizer each round does not increase J (the splitting of the normal equations
 * is P-regular because 2 diag(c) − K is positive semi-definite). That covers mean-regularized MTL (fuse mean or
 * weighted-mean, global), graph-regularized MTL (fuse weighted-mean per-task with edge weights on a symmetric graph,
 * where λ tr(WᵀKW) = λ Σ_{s<t} a_st ‖w_s − w_t‖²) and propagate laplacian / ppr with fuse identity on a symmetric
 * graph (K = I − P, P = (I + αL)⁻¹ or α(I − (1−α)S)⁻¹). Every other combination — a median, a per-task mean over
 * unweighted neighbours, solve/inverse by an arbitrary A, a third-party method — minimizes no objective the engine
 * can name: the recorded value is then labelled a surrogate (the round's own per-task problem at its targets).
 */
import type { DenseMatrix } from '../math/dense.js';
import { relationFactsOnce } from '../data/relation.js';
import type { TaskData } from '../plugin/types.js';
import type { ObjectiveInfo, ObjectiveValue } from '../results.js';
import type { RelationSpec } from '../spec/types.js';

/** How the penalty of an exact objective is evaluated. */
export type PenaltyForm =
  /** λ Σ c_t ‖w_t − E_t(W)‖², E(W) the (weighted) mean of W itself — no cancellation. */
  | 'targets'
  /** λ Σ_{s<t} a_st ‖w_s − w_t‖², straight from A. */
  | 'pairs'
  /** λ Σ c_t ⟨w_t, w_t − E_t(W)⟩, the general symmetric form. */
  | 'quadratic';

/** The objective of a run: its kind and, for exact ones, how to evaluate the penalty. */
export interface ObjectivePlan extends ObjectiveInfo {
  form?: PenaltyForm;
}

const DATA = 'Σ_t L_t(w_t) + ρ Σ_t ‖P w_t‖²';

/**
 * The objective for the built-in propagate and fuse methods (by their standard names), given their resolved options
 * and the relation.
 */
export function planObjective(propagate: { method: string }, fuse: { method: string; scope?: unknown; weights?: unknown }, A: DenseMatrix, relation?: RelationSpec): ObjectivePlan {
  const plan = planFixed(propagate, fuse, A);
  if (!relation || plan.kind !== 'exact') return plan;
  if (relation.method === 'learn' && relation.form === 'covariance' && plan.form === 'quadratic')
    return {
      ...plan,
      formula: `${DATA} + λ [tr(W̃ᵀ Ω⁻¹ W̃) + ε tr(Ω⁻¹)], W̃ the weights without the bias (free), Ω ≻ 0 with tr Ω = 1 learned (multi-task relationship learning; ε = ${relation.epsilon} × the initial weights' mean squared norm)`,
      reason: `the relation update Ω = S^½ / tr S^½, S = WWᵀ + εI, minimizes this objective over Ω for the current W, and each round's fuse precision is a majorize-minimize step over W, so neither can raise it.`,
    };
  if (relation.method === 'learn' && relation.form === 'clusters' && plan.form === 'pairs')
    return {
      ...plan,
      formula: `${DATA} + λ Σ_c Σ_{t∈c} ‖w_t − m_c‖², m_c the mean of cluster c of a learned k-means clustering into ${relation.k} clusters (a_st = 1/|c| within a cluster)`,
      reason: 'the relation update is the best k-means clustering found from the current one and seeded restarts (never a worse one), so it cannot raise this objective, and the rounds are graph-regularized steps for the clustering (which do not raise it with squared loss and the exact optimizer).',
    };
  const surrogate = `${DATA} + λ Σ_t c_t ‖w_t − E_t‖², E_t and c_t the targets and penalty weights the round used`;
  if (relation.method === 'estimate' && relation.every !== undefined)
    return {
      kind: 'surrogate',
      formula: surrogate,
      reason: `the relation is re-estimated from the current weights every ${relation.every} round${relation.every === 1 ? '' : 's'} by a similarity, which minimizes no objective, so no one objective holds across rounds.`,
    };
  if (relation.method === 'learn')
    return {
      kind: 'surrogate',
      formula: surrogate,
      reason: `relation learn with form ${relation.form} updates the relation on its own objective, which these stages do not minimize (form covariance pairs with fuse precision; form clusters with fuse weighted-mean, scope per-task, weights edges).`,
    };
  return plan;
}

function planFixed(propagate: { method: string }, fuse: { method: string; scope?: unknown; weights?: unknown }, A: DenseMatrix): ObjectivePlan {
  const surrogate = (reason: string): ObjectivePlan => ({
    kind: 'surrogate',
    formula: `${DATA} + λ Σ_t c_t ‖w_t − E_t‖², E_t and c_t the targets and penalty weights the round used`,
    reason,
  });
  const p = propagate.method;
  const f = fuse.method;
  const scope = fuse.scope ?? 'global';
  const { symmetric: sym, nonNegative } = relationFactsOnce(A);
  const graph = sym && nonNegative;
  const meanLike = (f === 'mean' && scope === 'global') || (f === 'weighted-mean' && scope === 'global');
  if (p === 'identity' && f === 'precision') {
    if (!sym) return surrogate('fuse precision on a relation that is not symmetric is not the gradient of a penalty.');
    return {
      kind: 'exact',
      form: 'quadratic',
      formula: `${DATA} + λ tr(Wᵀ A W), A the relation read as a precision matrix`,
      reason: 'fuse precision pulls each task towards the majorize-minimize target of this penalty, so every exact round lowers it (A positive semi-definite, checked).',
    };
  }
  if (p === 'identity') {
    if (f === 'identity') return { kind: 'exact', form: 'targets', formula: `${DATA} (E = W: no pull, every task alone)`, reason: 'fuse identity after propagate identity pulls each task towards itself.' };
    if (meanLike)
      return {
        kind: 'exact',
        form: 'targets',
        formula: `${DATA} + λ Σ_t c_t ‖w_t − w̄‖², w̄ = Σ_t c_t w_t / Σ_t c_t (mean-regularized MTL)`,
        reason: 'the global (weighted) mean is the minimizer over a shared target, so the rounds are block coordinate descent on this objective.',
      };
    if (f === 'weighted-mean' && scope === 'per-task' && fuse.weights === 'edges' && graph)
      return {
        kind: 'exact',
        form: 'pairs',
        formula: `${DATA} + λ Σ_{s<t} a_st ‖w_s − w_t‖² (graph-regularized MTL)`,
        reason: 'per-task weighted means with edge weights on a symmetric non-negative relation give the gradient of the graph penalty.',
      };
    return surrogate(
      f === 'weighted-mean' && scope === 'per-task'
        ? fuse.weights === 'edges'
          ? 'the relation is not symmetric and non-negative, so no graph penalty has these per-task targets as its gradient.'
          : `per-task targets weighted by ${String(fuse.weights)} are not the gradient of a symmetric penalty; use weights: edges for graph-regularized MTL.`
        : `fuse ${f} (scope ${String(scope)}) is not the minimizer of a quadratic penalty.`,
    );
  }
  if ((p === 'laplacian' || p === 'ppr') && f === 'identity') {
    if (!graph) return surrogate(`propagate ${p} on a relation that is not symmetric and non-negative is not a symmetric smoothing.`);
    return {
      kind: 'exact',
      form: 'quadratic',
      formula: `${DATA} + λ tr(Wᵀ (I − P) W), C = P W the propagated weights (P = ${p === 'laplacian' ? '(I + αL)⁻¹' : 'α(I − (1−α)S)⁻¹'})`,
      reason: `P is symmetric with eigenvalues in (0, 1], so I − P is positive semi-definite and the rounds are its stationary iteration.`,
    };
  }
  if (p === 'laplacian' && f === 'mean' && scope === 'global' && graph)
    return {
      kind: 'exact',
      form: 'targets',
      formula: `${DATA} + λ Σ_t ‖w_t − w̄‖², w̄ the mean of W (the mean of (I + αL)⁻¹W is the mean of W)`,
      reason: 'Laplacian smoothing preserves the mean, so this is mean-regularized MTL.',
    };
  return surrogate(`propagate ${p} followed by fuse ${f} (scope ${String(scope)}) is not a combination whose fixed points minimize a known objective.`);
}

/**
 * The sharing penalty Σ (without λ) of an exact objective at W. `E`, `c`: fuse(propagate(W)) at this very W (not
 * needed for the `pairs` form). `weights`: λ_j per parameter when the spec gives λ per block (each parameter's
 * term is weighted by its own λ; the forms stay exact, since every one of them is a sum over parameters).
 */
export function exactPenalty(form: PenaltyForm, W: DenseMatrix, A: DenseMatrix, E?: DenseMatrix, c?: ArrayLike<number>, weights?: Float64Array): number {
  const T = W.rows;
  const p = W.cols;
  let s = 0;
  if (form === 'pairs') {
    for (let a = 0; a < T; a++)
      for (let b = a + 1; b < T; b++) {
        const w = A.data[a * T + b]!;
        if (w === 0) continue;
        let q = 0;
        for (let j = 0; j < p; j++) q += (weights ? weights[j]! : 1) * (W.data[a * p + j]! - W.data[b * p + j]!) ** 2;
        s += w * q;
      }
    return s;
  }
  for (let t = 0; t < T; t++) {
    let q = 0;
    for (let j = 0; j < p; j++) {
      const w = W.data[t * p + j]!;
      const e = E!.data[t * p + j]!;
      q += (weights ? weights[j]! : 1) * (form === 'targets' ? (w - e) ** 2 : w * (w - e));
    }
    s += c![t]! * q;
  }
  return s;
}

/** The ridge term ρ Σ_t Σ_j m_j θ_tj² (m the model's ridge mask, 0 for biases; without one, every column but the bias). */
export function ridgeTerm(W: DenseMatrix, tasks: readonly TaskData[], ridge: number, penalized?: Uint8Array): number {
  const p = W.cols;
  let s = 0;
  for (const t of tasks)
    for (let j = 0; j < p; j++) if (penalized ? penalized[j] : j !== t.biasColumn) s += W.data[t.index * p + j]! ** 2;
  return ridge * s;
}

/** Puts the parts together. */
export function objectiveValue(loss: number, penalty: number, ridge: number, lambda: number): ObjectiveValue {
  const pen = lambda * penalty;
  return { total: loss + pen + ridge, loss, penalty: pen, ridge };
}
