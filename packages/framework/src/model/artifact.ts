/**
 * The model artifact: what a completed run writes to `model/` so that its model can be applied to new rows — by
 * `weightshare predict`, by {@link loadModel}, or from Python with the NumPy recipe in docs/runs.md.
 *
 *   model/model.json            the description below (format, versions, preprocessing, loss, model, tasks, files)
 *   model/parameters.npy        T×p task parameters θ_t in the standardized feature space, row t = tasks[t]
 *   model/targets.npy           T×p fused targets E of the last round
 *   model/weights-original.csv  the same linear models in the original units of the input columns
 *
 * For a raw row of task t: each encoded input x_k (a number, the imputed value of a missing one, or a 0/1 category
 * indicator) becomes z_k = (x_k − center_k) / scale_k for the features in `preprocessing.features` (in order), a 1 is
 * appended for the bias, and the output is Σ_k z_k θ_t[k] (the identity link for squared loss; the logistic function
 * of it, a probability, for logistic loss).
 */
import type { DenseMatrix } from '../math/dense.js';
import type { Preprocessing } from '../data/preprocess.js';
import type { RunOutcome } from '../results.js';
import { encodeNpy } from '../store/npy.js';
import { sha256 } from '../store/hash.js';

/** Version of the model format; {@link loadModel} refuses a newer one. */
export const MODEL_FORMAT = 1;

/** model/model.json. */
export interface ModelDescription {
  format: number;
  kind: 'weightshare-model';
  /** The framework that wrote it, and the plugins of the run. */
  framework: { name: string; version: string };
  plugins: { name: string; version: string; backend: string }[];
  /** The run: its name, the SHA-256 of its resolved spec, its seed. */
  run: { name: string; specSha256: string; seed: number };
  /** The loss; `labels` are the two target values a logistic model predicts between (0/1 or −1/+1). */
  loss: { name: 'squared' } | { name: 'logistic'; labels: [number, number] };
  /**
   * The model family: `linear`, one output, p = features.length parameters per task; `blocks` is the layout of θ
   * (a bias block is never ridge-penalized).
   */
  model: { name: 'linear'; outputs: 1; parameters: number; blocks: { name: string; start: number; size: number; bias?: true }[] };
  /** The data file's task and target columns. */
  columns: { task: string; target: string };
  /** Task ids; row t of parameters.npy and targets.npy belongs to tasks[t]. */
  tasks: string[];
  /** Names of the p model inputs, in order (the standardized features, then `bias`). */
  features: string[];
  preprocessing: Preprocessing;
  /**
   * Parameters used for a task that training did not have: the fused target, i.e. the shared model (with per-task
   * fusion, the mean of the tasks' targets weighted by their training rows).
   */
  unseen: { rule: string; parameters: number[] };
  /** How the relation the run used can be found (not needed for predictions): the run folder's relation.npy. */
  relation: { file: string; sha256: string; tasks: number };
  /** SHA-256 of every other file of model/, by name. */
  files: Record<string, string>;
}

/** The parameters for unseen tasks: Σ_t n_t E_t / Σ_t n_t (n_t the training rows of task t). */
function unseenParameters(targets: DenseMatrix, trainRows: readonly number[]): number[] {
  const p = targets.cols;
  const out = new Array<number>(p).fill(0);
  let n = 0;
  for (let t = 0; t < targets.rows; t++) n += trainRows[t]!;
  for (let t = 0; t < targets.rows; t++) {
    const w = trainRows[t]! / n;
    for (let j = 0; j < p; j++) out[j]! += w * targets.data[t * p + j]!;
  }
  // a global fusion gives identical rows: keep them bit for bit rather than a rounded weighted sum
  let identical = true;
  for (let t = 1; t < targets.rows && identical; t++) for (let j = 0; j < p; j++) if (targets.data[t * p + j] !== targets.data[j]) identical = false;
  return identical ? Array.from(targets.data.subarray(0, p)) : out;
}

/**
 * Each task's linear model in the original units of the encoded input columns: coefficient θ_k / scale_k per feature
 * (0 for a column dropped as constant), intercept θ_bias − Σ_k θ_k center_k / scale_k.
 */
export function originalWeightsCsv(W: DenseMatrix, tasks: readonly string[], pre: Preprocessing, taskColumn: string): string {
  const encodedNames = pre.encoded.map((e) => e.name);
  const cell = (v: number): string => (Object.is(v, -0) ? '0' : String(v));
  const lines = [[taskColumn, ...encodedNames, 'intercept'].map(csvField).join(',')];
  const p = W.cols;
  for (let t = 0; t < W.rows; t++) {
    const theta = W.data.subarray(t * p, (t + 1) * p);
    const coef = new Array<number>(encodedNames.length).fill(0);
    let intercept = pre.bias ? theta[p - 1]! : 0;
    pre.features.forEach((f, k) => {
      coef[f.encoded] = theta[k]! / f.scale;
      intercept -= (theta[k]! * f.center) / f.scale;
    });
    lines.push([csvField(tasks[t]!), ...coef.map(cell), cell(intercept)].join(','));
  }
  return lines.join('\n') + '\n';
}

const csvField = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The files of model/ for a completed run (paths relative to the run folder), model.json last. */
export function modelFiles(outcome: RunOutcome, meta: { frameworkVersion: string; specSha256: string; relationSha256: string; logisticLabels?: [number, number] }): [string, string | Buffer][] {
  const { data, weights, targets, spec, results } = outcome;
  const pre = data.preprocessing;
  if (!pre) return [];
  const taskColumn = spec.data.source === 'csv' ? spec.data.task : 'task';
  const targetColumn = spec.data.source === 'csv' ? spec.data.target : 'y';
  const files: [string, string | Buffer][] = [
    ['model/parameters.npy', encodeNpy(weights)],
    ['model/targets.npy', encodeNpy(targets)],
    ['model/weights-original.csv', originalWeightsCsv(weights, data.taskIds, pre, taskColumn)],
  ];
  const p = weights.cols;
  const blocks: ModelDescription['model']['blocks'] = [{ name: 'weights', start: 0, size: pre.bias ? p - 1 : p }];
  if (pre.bias) blocks.push({ name: 'bias', start: p - 1, size: 1, bias: true });
  const description: ModelDescription = {
    format: MODEL_FORMAT,
    kind: 'weightshare-model',
    framework: { name: '@weightshare/framework', version: meta.frameworkVersion },
    plugins: results.plugins.map((q) => ({ name: q.name, version: q.version, backend: q.backend })),
    run: { name: spec.name, specSha256: meta.specSha256, seed: spec.seed },
    loss: spec.loss === 'logistic' ? { name: 'logistic', labels: meta.logisticLabels ?? [0, 1] } : { name: 'squared' },
    model: { name: 'linear', outputs: 1, parameters: p, blocks },
    columns: { task: taskColumn, target: targetColumn },
    tasks: [...data.taskIds],
    features: [...data.featureNames],
    preprocessing: pre,
    unseen: {
      rule: 'the fused target E (the shared model); with per-task fusion the mean of the tasks\' targets weighted by their training rows',
      parameters: unseenParameters(targets, data.train.map((t) => t.y.length)),
    },
    relation: { file: '../relation.npy', sha256: meta.relationSha256, tasks: outcome.relation.rows },
    files: Object.fromEntries(files.map(([f, c]) => [f.slice('model/'.length), sha256(c)])),
  };
  files.push(['model/model.json', JSON.stringify(description, null, 2) + '\n']);
  return files;
}
