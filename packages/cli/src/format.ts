import type { Metrics, RunOutcome, RunResults } from '@weightshare/framework';

const f = (v: number, digits = 4): string => (Number.isFinite(v) ? v.toFixed(digits) : String(v));

/** The human summary of a run. */
export function formatSummary(outcome: RunOutcome, outputDir: string | undefined): string {
  const { results, spec } = outcome;
  const out: string[] = [];
  const backends = [...new Set(Object.values(results.stages).map((s) => s.backend))].join(', ');
  out.push(`weightshare run "${results.name}" (seed ${results.seed}, backend ${backends})`);
  out.push(
    `  data      ${results.data.tasks} tasks, ${results.data.features.length} features (incl. bias), ${results.data.trainRows} train / ${results.data.testRows} test rows` +
      (results.data.droppedConstantColumns.length ? `; dropped constant: ${results.data.droppedConstantColumns.join(', ')}` : ''),
  );
  out.push(`  stages    propagate ${results.stages.propagate.method} → fuse ${results.stages.fuse.method} → optimize ${results.stages.optimize.method}`);
  const rel = results.relation;
  const learned = rel.form === 'clusters' && rel.clusters ? `clusters: ${new Set(rel.clusters).size} of sizes ${clusterSizes(rel.clusters)}` : rel.form === 'covariance' ? 'task covariance Ω' : undefined;
  const updates = rel.updates !== undefined ? `, updated ${rel.updates} time${rel.updates === 1 ? '' : 's'} (every ${rel.every} round${rel.every === 1 ? '' : 's'})` : '';
  const ari = rel.adjustedRandIndex !== undefined ? `, adjusted Rand index ${rel.adjustedRandIndex.toFixed(3)} against the hidden clusters` : '';
  out.push(
    learned
      ? `  relation  learned ${learned}${updates}${ari}`
      : `  relation  ${rel.method}, ${rel.edges} edge${rel.edges === 1 ? '' : 's'}${rel.symmetric ? '' : ` (asymmetric: ${rel.directedEdges} directed)`}${updates}`,
  );
  // the last round always has its objective; earlier ones only with evaluate.everyRound (the default)
  const first = results.rounds.find((r) => r.objective)!;
  const last = results.rounds[results.rounds.length - 1]!;
  const kind = results.objective.kind === 'surrogate' ? ' (surrogate)' : '';
  out.push(
    first === last && results.rounds.length > 1
      ? `  rounds    ${results.rounds.length}, objective${kind} ${f(last.objective!.total, 6)} after the last`
      : `  rounds    ${results.rounds.length}, objective${kind} ${f(first.objective!.total, 6)} → ${f(last.objective!.total, 6)}`,
  );
  out.push(`            ${convergenceLine(results)}`);
  if (results.objective.kind === 'surrogate') out.push(`            the objective is a surrogate: ${results.objective.reason}`);
  const missing = results.data.missing;
  if (missing && (missing.droppedRows || Object.keys(missing.cells).length)) {
    const cells = Object.values(missing.cells).reduce((a, b) => a + b, 0);
    out.push(`  missing   ${cells} missing cell${cells === 1 ? '' : 's'} (${missing.policy}): ${missing.droppedRows} row${missing.droppedRows === 1 ? '' : 's'} left out${missing.policy === 'impute-mean' ? ', the rest imputed with training means' : ''}`);
  }
  const bp = results.biasPenalized;
  if (bp)
    for (const [fit, list] of Object.entries(bp) as [string, { task: string; reason: string }[]][]) {
      const what = fit === 'init' ? 'initial fits' : `${fit} baseline`;
      out.push(
        `  note      ${what}: ${list.length} task${list.length === 1 ? ' has' : 's have'} no finite fit alone with a free bias, so every parameter was ridge-penalized (e.g. task ${list[0]!.task}: ${list[0]!.reason}); results.json biasPenalized lists them`,
      );
    }
  out.push('');
  const models: [string, Metrics | undefined][] = [
    ['shared', results.models.shared],
    ['independent', results.models.independent],
    ['pooled', results.models.pooled],
  ];
  const sharedMetrics = results.models.shared as unknown as Record<string, number>;
  if ('r2' in sharedMetrics) {
    out.push('  model         test MSE       R²   explained variance   R² per task (size-weighted)');
    for (const [name, m] of models) {
      if (!m || !('r2' in m)) continue;
      out.push(`  ${name.padEnd(12)}  ${f(m.mse).padStart(8)}   ${f(m.r2).padStart(6)}   ${f(m.explainedVariance).padStart(18)}   ${f(m.r2TaskWeighted).padStart(10)}`);
    }
  } else {
    // the loss's own metrics (binary: accuracy, log-loss, ROC AUC; multi-class: accuracy, cross-entropy, macro-F1; counts: Poisson deviance, MAE, MSE)
    const keys = Object.keys(sharedMetrics);
    const label: Record<string, string> = { accuracy: 'accuracy', logLoss: 'log-loss', rocAuc: 'ROC AUC', crossEntropy: 'cross-entropy', macroF1: 'macro-F1', poissonDeviance: 'Poisson deviance', mae: 'MAE', mse: 'MSE' };
    out.push(`  model       ${keys.map((k) => (label[k] ?? k).padStart(Math.max(10, (label[k] ?? k).length))).join('  ')}`);
    for (const [name, m] of models) {
      if (!m) continue;
      const r = m as unknown as Record<string, number>;
      out.push(`  ${name.padEnd(10)}  ${keys.map((k) => f(r[k]!).padStart(Math.max(10, (label[k] ?? k).length))).join('  ')}`);
    }
  }
  const verdict = compare(results.models);
  if (verdict) out.push('', `  ${verdict}`);
  const sources = Object.values(outcome.sources);
  const cached = sources.filter((s) => s === 'cached').length;
  const resumed = sources.filter((s) => s === 'resumed').length;
  if (cached || resumed)
    out.push(
      '',
      `  stages    ${sources.length - cached - resumed} computed` + (cached ? `, ${cached} cached (unchanged since an earlier run)` : '') + (resumed ? `, ${resumed} from this run's checkpoints` : ''),
    );
  if (outputDir) out.push('', `  written to ${outputDir}/ (results.json, weights.csv/.npy, targets, relation, model/, checkpoints/, manifest.json)`);
  return out.join('\n');
}

/** One line on how the rounds ended. */
export function convergenceLine(results: RunResults): string {
  const c = results.convergence;
  const tol = c.tol.toExponential(0);
  const accel = c.acceleration === 'anderson' ? ', Anderson-accelerated' : '';
  if (c.converged)
    return c.stopEarly
      ? `converged at round ${c.round} (relative change ${c.lastChange.toExponential(1)} ≤ tol ${tol}${accel})`
      : `converged from round ${c.round} (last relative change ${c.lastChange.toExponential(1)} ≤ tol ${tol}${accel})`;
  return `NOT converged after ${c.rounds} rounds: last relative change ${c.lastChange.toExponential(1)} > tol ${tol}. Use rounds: { max: ${Math.max(1000, c.max * 10)}, tol: ${tol}${c.acceleration === 'anderson' ? '' : ', acceleration: anderson'} } to run until converged.`;
}

function compare(models: { shared: Metrics; independent?: Metrics; pooled?: Metrics }): string | undefined {
  const score = (m: Metrics): number => ('mse' in m ? -m.mse : m.accuracy);
  const metric = 'mse' in models.shared ? 'test MSE' : 'test accuracy';
  const base = [models.independent && ['each task alone', models.independent], models.pooled && ['one pooled model', models.pooled]].filter(Boolean) as [string, Metrics][];
  if (!base.length) return undefined;
  const beaten = base.filter(([, m]) => score(models.shared) > score(m)).map(([n]) => n);
  if (beaten.length === base.length) return `sharing wins: the shared model beats ${beaten.join(' and ')} on ${metric}.`;
  const lost = base.filter(([, m]) => score(models.shared) <= score(m)).map(([n]) => n);
  return `sharing does not win here: ${lost.join(' and ')} ${lost.length > 1 ? 'do' : 'does'} at least as well on ${metric}.`;
}

/** Cluster sizes, largest first: "12, 10, 8". */
function clusterSizes(labels: readonly number[]): string {
  const n = new Map<number, number>();
  for (const l of labels) n.set(l, (n.get(l) ?? 0) + 1);
  return [...n.values()].sort((a, b) => b - a).join(', ');
}
