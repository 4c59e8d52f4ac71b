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
import { BUILTIN_LOSSES } from '../components/losses.js';
import type { TargetKind } from '../plugin/types.js';
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
  loss: {
    name: string;
    options?: Record<string, unknown>;
    /** What the target holds (absent in format-1 files written before: squared is regression, logistic binary). */
    target?: TargetKind;
    /** Binary losses: the two target values predicted between (0/1 or −1/+1). */
    labels?: [number, number];
    /** Multi-class losses: the classes, in the order of the outputs. */
    classes?: (string | number)[];
  };
  /**
   * The model family: `linear`, one output, p = features.length parameters per task; `blocks` is the layout of θ
   * (a bias block is never ridge-penalized).
   */
  model: { name: string; options?: Record<string, unknown>; outputs: number; parameters: number; blocks: { name: string; start: number; size: number; shape?: number[]; bias?: true }[] };
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
export function originalWeightsCsv(W: DenseMatrix, tasks: readonly string[], pre: Preprocessing, taskColumn: string, outputs = 1, classes?: readonly (string | number)[]): string {
  const encodedNames = pre.encoded.map((e) => e.name);
  const cell = (v: number): string => (Object.is(v, -0) ? '0' : String(v));
  const k = outputs;
  const lines = [[taskColumn, ...(k > 1 ? ['class'] : []), ...encodedNames, 'intercept'].map(csvField).join(',')];
  const p = W.cols;
  for (let t = 0; t < W.rows; t++) {
    const theta = W.data.subarray(t * p, (t + 1) * p);
    // Θ is (inputs × k) row-major: output c of input j at θ[j·k + c]
    for (let c = 0; c < k; c++) {
      const coef = new Array<number>(encodedNames.length).fill(0);
      let intercept = pre.bias ? theta[(p / k - 1) * k + c]! : 0;
      pre.features.forEach((f, j) => {
        coef[f.encoded] = theta[j * k + c]! / f.scale;
        intercept -= (theta[j * k + c]! * f.center) / f.scale;
      });
      lines.push([csvField(tasks[t]!), ...(k > 1 ? [csvField(String(classes?.[c] ?? c))] : []), ...coef.map(cell), cell(intercept)].join(','));
    }
  }
  return lines.join('\n') + '\n';
}

const csvField = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The files of model/ for a completed run (paths relative to the run folder), model.json last. */
export function modelFiles(outcome: RunOutcome, meta: { frameworkVersion: string; specSha256: string; relationSha256: string; logisticLabels?: [number, number]; lossTarget?: TargetKind }): [string, string | Buffer][] {
  const { data, weights, targets, spec, results } = outcome;
  const pre = data.preprocessing;
  if (!pre) return [];
  const taskColumn = spec.data.source === 'csv' ? spec.data.task : 'task';
  const targetColumn = spec.data.source === 'csv' ? spec.data.target : 'y';
  const files: [string, string | Buffer][] = [
    ['model/parameters.npy', encodeNpy(weights)],
    ['model/targets.npy', encodeNpy(targets)],
  ];
  if (!results.model || results.model.name === 'linear')
    files.push(['model/weights-original.csv', originalWeightsCsv(weights, data.taskIds, pre, taskColumn, results.model?.outputs ?? 1, results.classes)]);
  const p = weights.cols;
  const m = results.model ?? { name: 'linear', outputs: 1, parameters: p, blocks: [] };
  const k = m.outputs;
  const linear = m.name === 'linear';
  // a linear model's θ is Θ (inputs × outputs) row-major, the bias input last: its last k entries are the bias row
  const blocks: ModelDescription['model']['blocks'] = linear
    ? [{ name: 'weights', start: 0, size: pre.bias ? p - k : p, shape: [pre.bias ? p / k - 1 : p / k, k] }]
    : m.blocks.map((b) => ({ name: b.name, start: b.offset, size: b.size, shape: b.shape }));
  if (linear && pre.bias) blocks.push({ name: 'bias', start: p - k, size: k, shape: [1, k], bias: true });
  const lossTarget = outcome.lossTarget ?? BUILTIN_LOSSES[results.loss]?.target ?? meta.lossTarget;
  const description: ModelDescription = {
    format: MODEL_FORMAT,
    kind: 'weightshare-model',
    framework: { name: '@weightshare/framework', version: meta.frameworkVersion },
    plugins: results.plugins.map((q) => ({ name: q.name, version: q.version, backend: q.backend })),
    run: { name: spec.name, specSha256: meta.specSha256, seed: spec.seed },
    loss: {
      name: results.loss,
      ...(results.lossOptions ? { options: results.lossOptions } : {}),
      ...(lossTarget ? { target: lossTarget } : {}),
      ...(lossTarget === 'binary' ? { labels: meta.logisticLabels ?? [0, 1] } : {}),
      ...(results.classes ? { classes: results.classes } : {}),
    },
    model: { name: m.name, ...(m.options ? { options: m.options } : {}), outputs: k, parameters: p, blocks },
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
