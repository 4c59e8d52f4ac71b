/**
 * The JSON Schema (draft 2020-12) of a pipeline spec. The framework's own choices (data source, split, relation,
 * init) are tables here; stage methods and their options come from the run's plugins, so a plugin's options are
 * validated exactly like built-in keys. `schemas/pipeline.schema.json` is this schema for the built-in plugins
 * (regenerate with `npm run schemas`; a test fails when it is stale).
 */
import type { JsonSchema, StageName } from '../plugin/types.js';
import { STAGE_NAMES } from '../plugin/types.js';
import type { PluginRegistry } from '../engine/registry.js';
import { DEFAULT_MISSING_TOKENS } from '../data/csv.js';
import { CLASSIFICATION_METRICS, REGRESSION_METRICS } from '../sweep/sweep.js';

/** The spec's apiVersion. */
export const SPEC_API_VERSION = 'weightshare/v1';
export const SCHEMA_ID = 'https://weightshare.dev/schemas/pipeline.schema.json';

/** One choice of a method object: its option properties and required options. */
export interface MethodChoice {
  description: string;
  properties: Record<string, JsonSchema>;
  required?: readonly string[];
}

const num = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'number', description, ...extra });
const int = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'integer', description, ...extra });
const str = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'string', minLength: 1, description, ...extra });
const columnList = (description: string): JsonSchema => ({ type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true, description });

/** Data sources (`data.source`). */
export const DATA_SOURCES: Record<string, MethodChoice> = {
  synthetic: {
    description: 'Built-in generator of related tasks: clusters of tasks share true weights, plus per-task deviations and noise.',
    properties: {
      tasks: int('Number of tasks T.', { minimum: 2, maximum: 100000, default: 30 }),
      clusters: int('Number of task clusters (tasks in one cluster share their true weights).', { minimum: 1, maximum: 100000, default: 3 }),
      features: int('Number of features d (before the bias column).', { minimum: 1, maximum: 100000, default: 10 }),
      rows: int('Rows per task (train + test).', { minimum: 2, default: 40 }),
      noise: num('Standard deviation of the target noise (squared loss).', { minimum: 0, default: 1 }),
      spread: num('Standard deviation of each task\'s weights around its cluster\'s weights.', { minimum: 0, default: 0.2 }),
      scale: num('Standard deviation of the cluster weights.', { minimum: 0, default: 1 }),
      classes: int('Multi-class losses (softmax): number of classes K; each class has its own true weights.', { minimum: 2, maximum: 1000, default: 3 }),
      teacher: { enum: ['linear', 'mlp'], default: 'linear', description: 'The true model of each task: linear weights, or (regression losses) a one-hidden-layer tanh network whose weights are shared by a cluster and perturbed per task by spread (a nonlinear problem for model: mlp).' },
      teacherHidden: int('teacher: mlp: hidden units of the true network.', { minimum: 1, maximum: 1000, default: 8 }),
    },
  },
  csv: {
    description: 'A CSV file with one row per example: a task column, a target column and feature columns.',
    properties: {
      path: str('CSV file, relative to the spec\'s folder.'),
      task: str('Column that names the task of each row.'),
      target: str('Column to predict.'),
      features: columnList('Feature columns; default: every column except task, target, excluded and split columns.'),
      exclude: columnList('Columns to leave out when `features` is not given.'),
      categorical: {
        type: 'array',
        uniqueItems: true,
        description:
          'Feature columns holding categories: one-hot encoded with the categories of the training rows (one indicator column each, named column=category). A column name, or { column, unseen: zeros | error, drop: none | first }.',
        items: {
          anyOf: [
            { type: 'string', minLength: 1 },
            {
              type: 'object',
              required: ['column'],
              properties: {
                column: str('The categorical column.'),
                unseen: { enum: ['zeros', 'error'], description: 'A category absent from the training rows: all-zero indicators (zeros, the default) or an error naming the row.' },
                drop: { enum: ['none', 'first'], description: 'none (default): one indicator per category; first: the first category (in natural order) is the reference and gets no column (reference coding).' },
              },
              additionalProperties: false,
            },
          ],
        },
      },
      missing: {
        enum: ['error', 'drop-rows', 'impute-mean'],
        default: 'error',
        description:
          'Missing cells (see missingValues): error names them; drop-rows leaves such rows out; impute-mean fills numeric features with the training mean and categorical ones with the most frequent training category (rows missing their task or target are left out). The counts are in results.json.',
      },
      missingValues: {
        type: 'array',
        items: { type: 'string' },
        uniqueItems: true,
        default: [...DEFAULT_MISSING_TOKENS],
        description: 'Cell values that mean "missing" (after trimming spaces).',
      },
      delimiter: { enum: [',', ';', 'tab', '|'], description: 'Field delimiter; default: detected from the header line (the most frequent of , ; tab |).' },
    },
    required: ['path', 'task', 'target'],
  },
};

/** Train/test split choices (`split.method`). */
export const SPLIT_METHODS: Record<string, MethodChoice> = {
  random: {
    description: 'Seeded random split inside every task.',
    properties: {
      testFraction: num('Fraction of each task\'s rows held out for testing.', { exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.25 }),
      minTrain: int('Fewest training rows a task may have; smaller tasks are an error.', { minimum: 1, default: 2 }),
    },
  },
  column: {
    description: 'A column of the data file assigns each row to train or test.',
    properties: {
      column: str('Column holding the assignment.'),
      train: { type: 'array', items: { type: ['string', 'number'] }, minItems: 1, default: ['train', 1], description: 'Values that mean "train".' },
      test: { type: 'array', items: { type: ['string', 'number'] }, minItems: 1, default: ['test', 0], description: 'Values that mean "test".' },
    },
    required: ['column'],
  },
  file: {
    description: 'A separate CSV file assigns each data row (in order, or by a `row` column) to train or test.',
    properties: {
      path: str('Split file, relative to the spec\'s folder.'),
      column: str('Column of the split file to use (e.g. split_3).'),
      rowColumn: str('Column with the 0-based data row index; default: rows in data order.'),
      train: { type: 'array', items: { type: ['string', 'number'] }, minItems: 1, default: ['train', 1], description: 'Values that mean "train".' },
      test: { type: 'array', items: { type: ['string', 'number'] }, minItems: 1, default: ['test', 0], description: 'Values that mean "test".' },
    },
    required: ['path', 'column'],
  },
};

const sparsify: Record<string, JsonSchema> = {
  knn: int('Keep each task\'s k most related tasks (then symmetrize by the larger weight).', { minimum: 1 }),
  threshold: num('Zero relations below this value.'),
};

/** How the relation matrix A is obtained (`relation.method`). */
export const RELATION_METHODS: Record<string, MethodChoice> = {
  identity: { description: 'A = I: no task is related to another.', properties: {} },
  uniform: { description: 'Every pair of tasks related with weight 1 (diagonal 1).', properties: {} },
  given: {
    description: 'A written inline as a T×T list of rows.',
    properties: {
      matrix: { type: 'array', minItems: 1, items: { type: 'array', items: { type: 'number' } }, description: 'Rows of A, in task order.' },
      ...sparsify,
    },
    required: ['matrix'],
  },
  csv: {
    description: 'A read from a CSV file of T rows and T numeric columns (a header row of task ids is optional).',
    properties: { path: str('CSV file, relative to the spec\'s folder.'), ...sparsify },
    required: ['path'],
  },
  estimate: {
    description: 'A estimated from the initial task weights B (bias excluded).',
    properties: {
      similarity: { enum: ['cosine', 'correlation', 'rbf'], default: 'cosine', description: 'Similarity between two tasks\' weight vectors.' },
      gamma: num('RBF kernel exp(−γ‖b_s − b_t‖²); default 1 / median squared distance.', { exclusiveMinimum: 0 }),
      negative: { enum: ['clip', 'keep'], default: 'clip', description: 'What to do with negative similarities: clip to 0 or keep.' },
      every: int('Re-estimate A from the current task weights every N rounds (default: once, from the initial weights).', { minimum: 1 }),
      ...sparsify,
    },
  },
  learn: {
    description:
      'A learned jointly with the task weights, alternating with the rounds on one objective: a task covariance Ω (multi-task relationship learning; the stages get the precision Ω⁻¹, for fuse precision) or a k-means clustering of the tasks (A = same-cluster weights 1/|cluster|, for fuse weighted-mean per-task with edge weights).',
    properties: {
      form: { enum: ['covariance', 'clusters'], description: 'covariance: penalty λ[tr(WᵀΩ⁻¹W) + ε tr(Ω⁻¹)], tr Ω = 1; clusters: penalty λ Σ_c Σ_{t∈c} ‖w_t − m_c‖².' },
      every: int('Update the relation from the current task weights every N rounds (the first from the initial weights); default 1.', { minimum: 1 }),
      epsilon: num('form covariance: ε of S = WWᵀ + εI, relative to the mean squared norm of the initial task weights (fixed for the run); default 0.01.', { minimum: 1e-12, maximum: 1e6 }),
      k: int('form clusters: the number of clusters K (2 ≤ K ≤ T).', { minimum: 2 }),
      restarts: int('form clusters: seeded k-means++ restarts per update, besides refining the current clustering; default 5.', { minimum: 0, maximum: 1000 }),
    },
    required: ['form'],
  },
};

/** How the initial weights B are obtained (`init.method`). */
export const INIT_METHODS: Record<string, MethodChoice> = {
  independent: {
    description: 'Fit each task alone (λ = 0) with the optimize stage\'s method.',
    properties: { ridge: num("Ridge ρ for the independent fits; default: the optimize stage's ridge.", { minimum: 0 }) },
  },
  zeros: { description: 'B = 0.', properties: {} },
  model: {
    description: "Every task starts from the model's one seeded initialization (zeros for a linear model; for an mlp the Glorot/He draw that all tasks share).",
    properties: {},
  },
  file: {
    description: 'B read from a CSV file of T rows and d numeric columns (bias last when the data has one).',
    properties: { path: str('CSV file, relative to the spec\'s folder.') },
    required: ['path'],
  },
};

/**
 * A "method object": an object whose `key` (method/source) picks a choice, whose other keys are that choice's
 * options. Unknown keys are rejected through `unevaluatedProperties`.
 */
export function methodObject(
  key: string,
  choices: Record<string, MethodChoice>,
  common: Record<string, JsonSchema>,
  description: string,
): JsonSchema {
  const names = Object.keys(choices).sort();
  return {
    type: 'object',
    description,
    required: [key],
    properties: {
      [key]: { type: 'string', enum: names, description: names.map((n) => `${n}: ${choices[n]!.description}`).join('\n') },
      ...common,
    },
    allOf: names.map((n) => ({
      if: { properties: { [key]: { const: n } }, required: [key] },
      then: {
        properties: choices[n]!.properties,
        ...(choices[n]!.required?.length ? { required: [...choices[n]!.required!] } : {}),
      },
    })),
    unevaluatedProperties: false,
  };
}

/**
 * The schema of `loss` or `model`: a name, or `{ method, ...options }`. For validation only the name is judged here
 * (its options are validated, with defaults, by the second phase: Ajv fills no defaults under `anyOf`).
 */
function componentSchema(
  components: [string, { description: string; options: Record<string, JsonSchema>; required?: readonly string[] }][],
  fallback: string,
  description: string,
  forValidation: boolean,
): JsonSchema {
  const names = components.map(([n]) => n).sort();
  const choices: Record<string, MethodChoice> = Object.fromEntries(
    components.map(([n, c]) => [n, { description: c.description, properties: structuredClone(c.options) as Record<string, JsonSchema>, required: c.required }]),
  );
  const asObject: JsonSchema = forValidation
    ? { type: 'object', required: ['method'], properties: { method: { type: 'string', enum: names } } }
    : methodObject('method', choices, {}, description);
  return {
    description,
    default: fallback,
    anyOf: [{ type: 'string', enum: names, description: names.map((n) => `${n}: ${choices[n]!.description}`).join('\n') }, asObject],
  };
}

/** Stage method choices from the registry: of every backend (options merged), or of one. */
export function stageChoices(registry: PluginRegistry, stage: StageName, backend?: string): Record<string, MethodChoice> {
  const out: Record<string, MethodChoice> = {};
  if (backend !== undefined) {
    for (const name of registry.methods(stage, backend)) {
      const m = registry.find(backend, stage, name)!.impl;
      out[name] = { description: m.description, properties: structuredClone(m.options) as Record<string, JsonSchema>, required: m.required };
    }
    return out;
  }
  for (const [name, m] of registry.optionSchemas(stage))
    out[name] = { description: m.description, properties: m.options as Record<string, JsonSchema>, required: m.required };
  return out;
}

/**
 * Builds the full spec schema for a set of plugins. With `forValidation`, stage options carry no defaults: those of
 * the backend that runs a stage are filled in by the second validation phase.
 */
export function buildSpecSchema(registry: PluginRegistry, forValidation = false): JsonSchema {
  const backends = registry.backends();
  const stageProps: Record<string, JsonSchema> = {};
  const backendProp = { backend: { type: 'string', enum: backends, description: 'Backend for this stage only; default: the spec\'s `backend`.' } };
  const perBackend: JsonSchema[] = [];
  for (const stage of STAGE_NAMES) {
    const choices = stageChoices(registry, stage);
    if (forValidation) {
      // options are judged by the second phase, against the backend that runs the stage (spec/load.ts)
      const names = Object.keys(choices).sort();
      stageProps[stage] = {
        type: 'object',
        required: ['method'],
        properties: { method: { type: 'string', enum: names }, ...backendProp },
      };
      continue;
    }
    stageProps[stage] = methodObject('method', choices, backendProp, `The ${stage} stage: a method and its options.`);
    // for editors: the options of each backend exactly, where the stage (or the spec) names that backend
    for (const b of backends) {
      const own = stageChoices(registry, stage, b);
      if (!Object.keys(own).length) continue;
      const stageHas = { properties: { stages: { properties: { [stage]: { required: ['backend'], properties: { backend: { const: b } } } } } } };
      const inherits = {
        properties: { stages: { properties: { [stage]: { not: { required: ['backend'] } } } }, ...(b === 'cpu' ? {} : { backend: { const: b } }) },
        ...(b === 'cpu' ? { anyOf: [{ not: { required: ['backend'] } }, { properties: { backend: { const: 'cpu' } } }] } : { required: ['backend'] }),
      };
      perBackend.push({
        if: { required: ['stages'], anyOf: [stageHas, inherits] },
        then: { properties: { stages: { properties: { [stage]: methodObject('method', own, backendProp, `The ${stage} stage on backend ${b}.`) } } } },
      });
    }
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: SCHEMA_ID,
    title: 'weightshare pipeline spec',
    description: 'A multi-task weight-sharing run: data, split, relation, initial weights, and the propagate → fuse → optimize stages repeated for a number of rounds.',
    type: 'object',
    required: ['apiVersion', 'name', 'data', 'stages'],
    properties: {
      apiVersion: { const: SPEC_API_VERSION, description: 'Spec format version.' },
      extends: {
        anyOf: [{ type: 'string', minLength: 1 }, { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 }],
        description: 'Spec file(s) this one builds on, relative to its folder: their deep merge (in order), then uses:, then this file (lists replaced, null deletes a key).',
      },
      uses: {
        type: 'object',
        additionalProperties: { type: 'string', minLength: 1 },
        description: 'Config groups: { group: choice } merges conf/<group>/<choice>.yaml (next to the spec) after extends:, before this file; --use group=choice overrides.',
      },
      name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', maxLength: 100, description: 'Run name (letters, digits, . _ -); names the output folder.' },
      description: { type: 'string', description: 'Free text.' },
      seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0, description: 'Seed of the run\'s one PRNG (xoshiro128**).' },
      plugins: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        uniqueItems: true,
        description: 'Plugins this spec uses besides the built-in ones: package names, or paths relative to the spec (./my-plugin.js).',
      },
      backend: { type: 'string', enum: backends, default: 'cpu', description: 'Default backend of every stage.' },
      backendOptions: {
        type: 'object',
        description: 'Settings of the plugins behind each backend, e.g. { tfjs: { device: wasm } }.',
        properties: Object.fromEntries(
          registry.plugins
            .filter((p) => p.settings && Object.keys(p.settings).length)
            .map((p) => [p.backend, { type: 'object', properties: p.settings, additionalProperties: false, default: {}, description: `Settings of ${p.meta.name}.` }]),
        ),
        additionalProperties: false,
        default: {},
      },
      loss: componentSchema(
        registry.losses().map((c) => [c.name, c.impl]),
        'squared',
        'Loss of every task: a name (squared, logistic, huber, poisson, softmax, or one a plugin adds), or { method: name, ...options }.',
        forValidation,
      ),
      model: componentSchema(
        registry.models().map((c) => [c.name, c.impl]),
        'linear',
        "Model of every task: linear (default; K outputs for softmax), or one a plugin adds; a name or { method: name, ...options }.",
        forValidation,
      ),
      data: methodObject(
        'source',
        DATA_SOURCES,
        {
          standardize: { type: 'boolean', default: true, description: 'z-score features with training statistics (pooled over tasks); constant columns are dropped.' },
          bias: { type: 'boolean', default: true, description: 'Append a bias column of ones (never ridge-penalized).' },
        },
        'Where tasks come from.',
      ),
      split: { ...methodObject('method', SPLIT_METHODS, {}, 'How rows are split into train and test.'), default: { method: 'random' } },
      relation: { ...methodObject('method', RELATION_METHODS, {}, 'How the task relation matrix A (T×T) is obtained.'), default: { method: 'identity' } },
      init: { ...methodObject('method', INIT_METHODS, {}, 'How the initial task weights B (T×d) are obtained.'), default: { method: 'independent' } },
      stages: {
        type: 'object',
        description: 'The stages of each round, in the order propagate → fuse → optimize.',
        required: [...STAGE_NAMES],
        properties: stageProps,
        additionalProperties: false,
      },
      rounds: {
        description:
          'How many times propagate → fuse → optimize repeats: N (always N rounds; convergence is still measured and reported), or { max, tol, acceleration, memory } to stop once converged.',
        default: 1,
        anyOf: [
          { type: 'integer', minimum: 1, maximum: 1000000 },
          {
            type: 'object',
            required: ['max'],
            properties: {
              max: { type: 'integer', minimum: 1, maximum: 1000000, description: 'Most rounds to run.' },
              tol: {
                type: 'number',
                exclusiveMinimum: 0,
                description: 'Default 1e-6. Stop when the relative change of the weights ‖W_r − W_(r−1)‖/‖W_r‖ and of the objective both fall to tol or below.',
              },
              acceleration: { enum: ['none', 'anderson'], description: 'none (default), or anderson: Anderson mixing of the round map (same fixed point, far fewer rounds), with a safeguard that falls back to the plain step.' },
              memory: { type: 'integer', minimum: 1, maximum: 50, description: 'Anderson (default 5): how many past rounds the extrapolation uses.' },
              stopEarly: { type: 'boolean', description: 'Default true: stop once converged (false: always run max rounds, as rounds: N does).' },
            },
            additionalProperties: false,
          },
        ],
      },
      sweep: {
        type: 'object',
        description: 'Model selection for `weightshare sweep`: candidates scored on a validation split of the training rows, the best refit and tested once.',
        required: ['parameters'],
        properties: {
          parameters: {
            type: 'object',
            description:
              'Spec paths (as for --set) and the values to try: a list (grid: the candidates are the cartesian product; random: choices), or for search: random a range { uniform: [lo, hi] }, { logUniform: [lo, hi] } or { int: [lo, hi] }.',
            additionalProperties: { anyOf: [{ type: 'array', minItems: 1 }, ...['uniform', 'logUniform', 'int'].map((r) => ({ type: 'object', required: [r], additionalProperties: false, properties: { [r]: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 } } }))] },
            minProperties: 1,
          },
          search: {
            enum: ['grid', 'random', 'halving'],
            default: 'grid',
            description: "grid: every combination of the lists; random: sweep.samples candidates drawn with the spec's seed; halving: successive halving of the candidates over sweep.budget.",
          },
          budget: {
            type: 'object',
            required: ['path', 'min', 'max'],
            additionalProperties: false,
            description: 'Successive halving: the spec path that is the budget (rounds.max, stages.optimize.epochs, …), its first and last value, and the factor eta between rungs.',
            properties: {
              path: { type: 'string', minLength: 1, description: 'Spec path (as for --set) of the budget, e.g. rounds.max.' },
              min: { type: 'integer', minimum: 1, description: 'Budget of the first rung.' },
              max: { type: 'integer', minimum: 1, description: 'Budget of the last rung, and of the chosen candidate\'s refit.' },
              eta: { type: 'integer', minimum: 2, default: 2, description: 'Each rung multiplies the budget by eta and keeps the best 1/eta of the candidates.' },
            },
          },
          samples: { type: 'integer', minimum: 1, maximum: 100000, description: 'Candidates a random search draws (required for search: random).' },
          metric: {
            enum: [...REGRESSION_METRICS, ...CLASSIFICATION_METRICS],
            description: 'Validation metric to select by; default mse (squared loss) or logLoss (logistic).',
          },
          model: {
            enum: ['shared', 'independent', 'pooled'],
            default: 'shared',
            description: 'Which model the validation metric is taken from: the shared model, or a baseline (to tune evaluate.baselineRidge).',
          },
          validationFraction: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.25, description: "Fraction of each task's training rows held out for validation." },
          splits: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, uniqueItems: true, description: 'Outer splits: values of split.column to repeat the selection over.' },
        },
        additionalProperties: false,
      },
      evaluate: {
        type: 'object',
        description: 'Evaluation on the test rows.',
        properties: {
          baselines: { type: 'boolean', default: true, description: 'Also fit each task alone and one pooled model, and report them side by side.' },
          baselineRidge: num("Ridge ρ of the two baselines; default: the optimize stage's ridge, so that only λ differs.", { minimum: 0 }),
          everyRound: {
            type: 'boolean',
            default: true,
            description:
              'Record the objective and the test metrics after every round (a pass over all rows each), or only after the last (false: faster for big data and sweeps).',
          },
        },
        additionalProperties: false,
        default: {},
      },
      output: {
        type: 'object',
        description: 'Where results go.',
        properties: {
          dir: { type: 'string', minLength: 1, default: 'runs', description: 'Folder (relative to the working directory) in which each run gets a new sub-folder.' },
          write: { type: 'boolean', default: true, description: 'Write results to disk (false: print only).' },
          checkpoints: {
            enum: ['all', 'last'],
            default: 'all',
            description:
              'Which stage checkpoints the run folder keeps: all (every stage of every round), or last (only what resume needs: the initial fits, the relation, the baselines and the latest round; older rounds are deleted as the run advances).',
          },
        },
        additionalProperties: false,
        default: {},
      },
    },
    ...(perBackend.length ? { allOf: perBackend } : {}),
    // top-level x-… keys hold YAML anchors (removed before validation; allowed here for editors)
    patternProperties: { '^x-': {} },
    additionalProperties: false,
  };
}
