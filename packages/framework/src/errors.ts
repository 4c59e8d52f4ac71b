/**
 * Every error weightshare raises for a user to act on is a {@link WeightshareError} with a stable code.
 * All codes and their message builders live in this one file, sorted; `docs/errors.md` documents them and
 * a test keeps the two in step. Tests assert codes, never messages.
 */

/** Stable error codes. Exit code 2 for every user error, 1 for an internal one. */
export const ErrorCode = {
  /** A checkpoint file of a run does not match the checksum recorded for it (truncated or corrupted). */
  CHECKPOINT_CORRUPT: 'CHECKPOINT_CORRUPT',
  /** A CSV file is malformed: missing column, empty or non-numeric cell, NaN/Inf. */
  CSV_INVALID: 'CSV_INVALID',
  /** A data set violates a requirement, e.g. a task has too few rows to split. */
  DATA_INVALID: 'DATA_INVALID',
  /** The job queue's server (Redis, for `--executor redis://…` and `weightshare worker`) cannot be reached, refused the password, or its URL is malformed. */
  EXECUTOR_UNAVAILABLE: 'EXECUTOR_UNAVAILABLE',
  /** A file named by the spec or the command line does not exist, cannot be read, or is not a regular file. */
  FILE_NOT_FOUND: 'FILE_NOT_FOUND',
  /** A bug in weightshare itself (exit code 1); please report it. */
  INTERNAL: 'INTERNAL',
  /** A model folder cannot be used: not a completed run, a file missing, or a format newer than this weightshare. */
  MODEL_INVALID: 'MODEL_INVALID',
  /** A command-line flag or argument is wrong. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** A job sent to remote workers failed on every attempt, or a worker refused it (a plugin or version it lacks, a data file whose SHA-256 differs). */
  JOB_FAILED: 'JOB_FAILED',
  /** A linear system is singular or too badly conditioned to solve reliably. */
  LINEAR_SYSTEM_SINGULAR: 'LINEAR_SYSTEM_SINGULAR',
  /** An optimizer produced a NaN or infinite loss. */
  NON_FINITE_LOSS: 'NON_FINITE_LOSS',
  /** The output folder cannot be created or written. */
  OUTPUT_ERROR: 'OUTPUT_ERROR',
  /** A plugin object breaks the plugin contract (missing fields, incompatible API version, duplicate method). */
  PLUGIN_INVALID: 'PLUGIN_INVALID',
  /** An error thrown inside a plugin's stage method; the original is kept as `cause`. */
  PLUGIN_ERROR: 'PLUGIN_ERROR',
  /** A plugin named in a spec cannot be found or imported. */
  PLUGIN_NOT_FOUND: 'PLUGIN_NOT_FOUND',
  /** A plugin may not be loaded from where it is: a URL, an absolute path, or a file outside the spec's folder tree. */
  PLUGIN_REFUSED: 'PLUGIN_REFUSED',
  /** The run needs more memory than this machine has (or a size beyond what the engine can hold). */
  RESOURCE_LIMIT: 'RESOURCE_LIMIT',
  /** Resuming was refused: the spec, a data file or a plugin changed since the run started (use --force). */
  RESUME_REFUSED: 'RESUME_REFUSED',
  /** Another live process holds the run folder's lock. */
  RUN_LOCKED: 'RUN_LOCKED',
  /** A file of a run folder is damaged (unreadable, truncated, of the wrong shape) or no longer matches the SHA-256 the run recorded for it. */
  RUN_CORRUPT: 'RUN_CORRUPT',
  /** No run folder (with a manifest) at the given path or id. */
  RUN_NOT_FOUND: 'RUN_NOT_FOUND',
  /** The relation matrix A is malformed (not square, not T×T, negative or NaN entries where not allowed). */
  RELATION_INVALID: 'RELATION_INVALID',
  /** No stage implementation is registered for (backend, stage, method). */
  STAGE_NOT_FOUND: 'STAGE_NOT_FOUND',
  /** An iterative solver did not reach its tolerance. */
  SOLVER_NOT_CONVERGED: 'SOLVER_NOT_CONVERGED',
  /** The spec file is empty. */
  SPEC_EMPTY: 'SPEC_EMPTY',
  /** The spec fails schema validation (unknown keys, wrong types, ranges, unknown methods). */
  SPEC_INVALID: 'SPEC_INVALID',
  /** The spec is not well-formed YAML. */
  SPEC_YAML: 'SPEC_YAML',
} as const;

/** One of the stable codes in {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Where in a user's input an error was found. */
export interface SourceLocation {
  /** File path as the user gave it (or a label such as `--set`). */
  file?: string;
  /** 1-based line. */
  line?: number;
  /** 1-based column. */
  column?: number;
  /** JSON pointer into the spec, e.g. `/stages/optimize/lambda`. */
  path?: string;
  /** CSV row (1-based, counting the header as row 1) and column name. */
  row?: number;
  csvColumn?: string;
}

/** A single problem inside a multi-problem error (validation reports several at once). */
export interface Problem {
  message: string;
  location?: SourceLocation;
}

/** Context that helps a user or a plugin author find the failing piece. */
export interface ErrorContext {
  plugin?: string;
  pluginVersion?: string;
  backend?: string;
  stage?: string;
  method?: string;
  task?: string | number;
  round?: number;
  epoch?: number;
  [key: string]: unknown;
}

/**
 * The brand every {@link WeightshareError} carries. `Symbol.for` gives the same symbol in every copy of the framework,
 * so an error thrown by a plugin built against another copy is still recognised (see {@link isWeightshareError}).
 */
export const ERROR_BRAND: unique symbol = Symbol.for('weightshare.error') as never;

/** The one error class of weightshare. `code` is stable; `problems` lists every issue found at once. */
export class WeightshareError extends Error {
  override readonly name = 'WeightshareError';
  readonly [ERROR_BRAND] = true;
  readonly code: ErrorCode;
  readonly problems: Problem[];
  readonly context: ErrorContext;
  /** A code a plugin attached to its own error, kept when the framework wraps it. */
  readonly pluginCode?: string;

  constructor(
    code: ErrorCode,
    message: string,
    options: { problems?: Problem[]; context?: ErrorContext; cause?: unknown; pluginCode?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.problems = options.problems ?? [];
    this.context = options.context ?? {};
    this.pluginCode = options.pluginCode;
  }

  /** True for mistakes in user input (spec, flags, data): the CLI exits 2 and prints no stack. */
  get isUserError(): boolean {
    return this.code !== ErrorCode.INTERNAL && this.code !== ErrorCode.PLUGIN_ERROR;
  }
}

/**
 * Whether `e` is a weightshare error — from this copy of the framework or from any other (a plugin may bundle its own):
 * recognised by its brand and a known code, never by `instanceof`, which fails across copies.
 */
export function isWeightshareError(e: unknown): e is WeightshareError {
  if (typeof e !== 'object' || e === null || (e as Record<symbol, unknown>)[ERROR_BRAND] !== true) return false;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && Object.hasOwn(ErrorCode, code);
}

/**
 * `e` as a {@link WeightshareError} of this copy of the framework (the same object when it is one already), or
 * undefined when it is not a weightshare error. An error of another copy keeps its code, message, problems, context
 * and cause.
 */
export function asWeightshareError(e: unknown): WeightshareError | undefined {
  if (e instanceof WeightshareError) return e;
  if (!isWeightshareError(e)) return undefined;
  const { problems, context, pluginCode } = e as Partial<WeightshareError>;
  return new WeightshareError(e.code, String(e.message), {
    problems: Array.isArray(problems) ? problems : [],
    context: context && typeof context === 'object' ? context : {},
    cause: e.cause,
    pluginCode: typeof pluginCode === 'string' ? pluginCode : undefined,
  });
}

/** Formats a location as `file:line:column` (what editors and terminals make clickable). */
export function formatLocation(loc: SourceLocation | undefined): string {
  if (!loc) return '';
  const parts: string[] = [];
  if (loc.file) {
    let s = loc.file;
    if (loc.line !== undefined) s += `:${loc.line}` + (loc.column !== undefined ? `:${loc.column}` : '');
    parts.push(s);
  }
  if (loc.row !== undefined) parts.push(`row ${loc.row}`);
  if (loc.csvColumn !== undefined) parts.push(`column "${excerpt(loc.csvColumn)}"`);
  if (loc.path !== undefined) parts.push(`at ${loc.path === '' ? '/' : loc.path}`);
  return parts.join(', ');
}

/** Renders an error as the one paragraph the CLI prints: code, message, then each problem on its own line. */
export function formatError(err: WeightshareError): string {
  const lines = [`error ${err.code}: ${err.message}`];
  for (const p of err.problems) {
    const where = formatLocation(p.location);
    lines.push(`  - ${where ? where + ': ' : ''}${p.message}`);
  }
  let cause = err.cause;
  while (cause instanceof Error) {
    lines.push(`  caused by: ${cause.message}`);
    cause = (cause as Error).cause;
  }
  return lines.join('\n');
}

// ---- message builders (sorted by code) -------------------------------------------------------------

export function checkpointCorrupt(file: string, why: string): WeightshareError {
  return new WeightshareError(
    ErrorCode.CHECKPOINT_CORRUPT,
    `checkpoint file "${file}" is corrupted (${why}); it is not used. Delete its folder to recompute that stage (and the ones after it), then resume.`,
    { context: { file } },
  );
}

export function csvInvalid(file: string, problems: Problem[], opts: { count?: number; where?: string } = {}): WeightshareError {
  const count = opts.count ?? problems.length;
  const where = opts.where ? ` (${opts.where})` : '';
  return new WeightshareError(
    ErrorCode.CSV_INVALID,
    `${file}: ${count === 1 ? 'a problem' : `${count} problems`} in the CSV data${where}; the cells are named below.`,
    { problems },
  );
}

export function dataInvalid(message: string, problems: Problem[] = []): WeightshareError {
  return new WeightshareError(ErrorCode.DATA_INVALID, message, { problems });
}

/**
 * @param notFile what the path is instead of a regular file (a folder, a device, a FIFO, a /proc file), when it
 *   exists but is refused as one.
 */
export function fileNotFound(file: string, what: string, from?: SourceLocation, notFile?: string): WeightshareError {
  const base = from ? "relative paths in a spec are resolved against the spec's folder" : 'relative paths are resolved against the current folder';
  const problem = notFile
    ? `${what} "${file}" is ${notFile}, not a regular file; weightshare reads inputs only from regular files (never from devices, pipes, folders or /proc). Copy the data into a file and name that.`
    : `${what} "${file}" does not exist or cannot be read. Check the path (${base}).`;
  return new WeightshareError(ErrorCode.FILE_NOT_FOUND, problem, { problems: from ? [{ message: `named here`, location: from }] : [] });
}

export function internalError(message: string, cause?: unknown): WeightshareError {
  return new WeightshareError(ErrorCode.INTERNAL, `internal error: ${message}. This is a bug in weightshare; please report it.`, { cause });
}

export function invalidArgument(message: string): WeightshareError {
  return new WeightshareError(ErrorCode.INVALID_ARGUMENT, message);
}

export function linearSystemSingular(
  what: string,
  condition: number,
  limit: number,
  fix: string,
  context: ErrorContext = {},
): WeightshareError {
  const c = Number.isFinite(condition) ? condition.toExponential(2) : 'infinite';
  return new WeightshareError(
    ErrorCode.LINEAR_SYSTEM_SINGULAR,
    `${what} is singular or badly conditioned (condition estimate ${c}, limit ${limit.toExponential(0)}). ${fix}`,
    { context: { ...context, condition } },
  );
}

/**
 * @param round 1-based round, or 0 for work outside the rounds (`purpose` then says which: init or baseline).
 */
export function nonFiniteLoss(task: string, round: number, epoch: number, fix: string, purpose: 'stage' | 'init' | 'baseline' = 'stage'): WeightshareError {
  const when = purpose === 'init' ? 'the initial independent fits (init)' : purpose === 'baseline' ? 'the baseline fits' : `round ${round}`;
  return new WeightshareError(
    ErrorCode.NON_FINITE_LOSS,
    `the loss of task "${task}" became NaN or infinite in ${when}, epoch ${epoch}. ${fix}`,
    { context: { task, round, epoch, purpose } },
  );
}

export function outputError(path: string, cause: unknown): WeightshareError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new WeightshareError(
    ErrorCode.OUTPUT_ERROR,
    `cannot write the run's output to "${path}" (${why}). Choose a writable folder with output.dir or --set output.dir=<folder>.`,
    { cause },
  );
}

export function pluginInvalid(plugin: string, problems: string[], from?: SourceLocation): WeightshareError {
  return new WeightshareError(ErrorCode.PLUGIN_INVALID, `plugin "${plugin}" breaks the plugin contract. See docs/plugins.md.`, {
    problems: [...problems.map((message) => ({ message })), ...(from ? [{ message: 'named here', location: from }] : [])],
  });
}

/** @param resume the plugin was looked up for a run folder, among the packages installed where resume runs */
export function pluginNotFound(name: string, why: string, from?: SourceLocation, resume = false): WeightshareError {
  const local = name.startsWith('.') || name.startsWith('/');
  const fix = local
    ? 'Check the path: it is resolved against the spec\'s folder and must point to a JavaScript module (build TypeScript plugins first).'
    : resume
      ? `Install it here (npm install ${name}, the version the run used), or run resume from the folder where it is installed.`
      : `Install it next to the spec (npm install ${name}) or name it by a path relative to the spec (./my-plugin.js).`;
  return new WeightshareError(ErrorCode.PLUGIN_NOT_FOUND, `plugin "${name}" cannot be loaded: ${why}. ${fix}`, {
    problems: from ? [{ message: 'named here', location: from }] : [],
  });
}

/**
 * A plugin module that may not be loaded from where it is.
 * @param resume the plugin was named by a run folder (resume), not by a spec the user runs
 */
export function pluginRefused(name: string, why: string, resume: boolean, from?: SourceLocation): WeightshareError {
  const fix = resume
    ? 'If you trust that file, resume with --allow-plugin-path <the folder that holds it>; otherwise run the spec again with weightshare run.'
    : "Move the plugin into the spec's folder or install it as a package; or, if you trust it, allow its folder with --allow-plugin-path <folder>.";
  return new WeightshareError(
    ErrorCode.PLUGIN_REFUSED,
    `plugin "${name}" was not loaded: ${why}. A spec is code, so its plugins come only from packages installed where it is, files inside its own folder and folders allowed with --allow-plugin-path (see docs/security.md). ${fix}`,
    { problems: from ? [{ message: 'named here', location: from }] : [] },
  );
}

export function relationInvalid(message: string, location?: SourceLocation): WeightshareError {
  return new WeightshareError(ErrorCode.RELATION_INVALID, message, {
    problems: location ? [{ message: 'relation declared here', location }] : [],
  });
}

/** A negative relation weight where a method needs a graph; the fix is one every relation method accepts. */
export function negativeRelation(what: string, i: number, j: number, value: number): WeightshareError {
  return relationInvalid(
    `${what} needs non-negative relation weights, but A[${i + 1}][${j + 1}] = ${value}. Add relation.threshold: 0 (it zeroes negative off-diagonal entries, for any relation method), or with relation.method estimate use negative: clip (the default).`,
  );
}

/** Bytes as a short human figure (1.2 GB). */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  if (!Number.isFinite(v)) return 'more than any machine has';
  return u === 0 ? `${Math.round(v)} bytes` : `${v.toPrecision(3)} ${units[u]}`;
}

/**
 * A run that would not fit: `needs` bytes (an estimate, made before allocating) against the `available` ones.
 * @param what what is that big, e.g. "the relation matrix A (100000×100000 float64)".
 */
export function resourceLimit(what: string, needs: number, available: number, fix: string, location?: SourceLocation): WeightshareError {
  return new WeightshareError(
    ErrorCode.RESOURCE_LIMIT,
    `this run needs about ${formatBytes(needs)} of memory for ${what}, but this machine has ${formatBytes(available)}. ${fix}`,
    { problems: location ? [{ message: 'size set here', location }] : [], context: { needs, available } },
  );
}

export function resumeRefused(run: string, changes: string[]): WeightshareError {
  return new WeightshareError(
    ErrorCode.RESUME_REFUSED,
    `run "${run}" was not resumed: its inputs changed since it started, so its checkpoints may not fit them. Start a new run, or resume with --force to continue anyway (stages whose inputs changed are recomputed).`,
    { problems: changes.map((message) => ({ message })) },
  );
}

/** A file of a completed run (or of its model/) that no longer matches the SHA-256 recorded for it. */
export function runCorrupt(file: string, why: string, problems: Problem[] = []): WeightshareError {
  return new WeightshareError(
    ErrorCode.RUN_CORRUPT,
    problems.length
      ? `${file} ${why}. Those files changed after the run completed (edited, truncated or damaged); nothing is read from them. Restore them, or run the spec again.`
      : `${file} ${why}. The file changed after the run completed (edited, truncated or damaged); nothing is read from it. Restore it, or run the spec again.`,
    { context: { file }, ...(problems.length ? { problems } : {}) },
  );
}

export function runLocked(run: string, holder: string): WeightshareError {
  return new WeightshareError(
    ErrorCode.RUN_LOCKED,
    `run folder "${run}" is in use by ${holder}. Wait for it to finish; a lock left by a process that died is taken over automatically.`,
  );
}

/** A damaged file of a run folder (its manifest or resolved spec): named, with why, and never used. */
export function runFolderDamaged(run: string, file: string, why: string): WeightshareError {
  return new WeightshareError(
    ErrorCode.RUN_CORRUPT,
    `run folder "${run}" is damaged: ${file} ${why}. It is not used; start a new run from the spec (weightshare run <spec>).`,
    { context: { file } },
  );
}

export function runNotFound(run: string, why: string): WeightshareError {
  return new WeightshareError(ErrorCode.RUN_NOT_FOUND, `no run at "${run}": ${why}. List runs with "weightshare runs ls".`);
}

export function solverNotConverged(what: string, iterations: number, residual: number, tol: number, fix: string, context: ErrorContext = {}): WeightshareError {
  return new WeightshareError(
    ErrorCode.SOLVER_NOT_CONVERGED,
    `${what} did not converge: relative residual ${residual.toExponential(2)} after ${iterations} iterations (tolerance ${tol.toExponential(0)}). ${fix}`,
    { context: { ...context, iterations, residual } },
  );
}

export function specEmpty(file: string): WeightshareError {
  return new WeightshareError(
    ErrorCode.SPEC_EMPTY,
    `${file} is empty. A pipeline spec needs at least apiVersion, name, data and stages; see pipelines/quickstart.yaml for a complete example.`,
  );
}

export function specInvalid(file: string, problems: Problem[]): WeightshareError {
  return new WeightshareError(
    ErrorCode.SPEC_INVALID,
    `${file} is not a valid pipeline spec (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}).`,
    { problems },
  );
}

export function specYaml(file: string, problems: Problem[]): WeightshareError {
  return new WeightshareError(ErrorCode.SPEC_YAML, `${file} is not well-formed YAML.`, { problems });
}

export function stageNotFound(
  backend: string,
  stage: string,
  method: string,
  available: string[],
  location?: SourceLocation,
): WeightshareError {
  const list = available.length ? available.join(', ') : '(none)';
  return new WeightshareError(
    ErrorCode.STAGE_NOT_FOUND,
    `no ${stage} method "${method}" on backend "${backend}". Available: ${list}.`,
    { problems: location ? [{ message: 'requested here', location }] : [], context: { backend, stage, method } },
  );
}

/** Wraps an error thrown inside a plugin with where it happened; the original stays as `cause`. */
export function pluginError(err: unknown, context: ErrorContext): WeightshareError {
  const ours = asWeightshareError(err);
  if (ours) return ours; // already actionable (plugins may throw our errors, from any copy of the framework)
  const msg = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown })?.code;
  const where = [
    context.plugin && `plugin ${context.plugin}@${context.pluginVersion ?? '?'}`,
    context.stage && `stage ${context.stage}`,
    context.method && `method ${context.method}`,
    context.round !== undefined && `round ${context.round}`,
    context.task !== undefined && `task ${context.task}`,
  ]
    .filter(Boolean)
    .join(', ');
  return new WeightshareError(ErrorCode.PLUGIN_ERROR, `${where} failed: ${msg}`, {
    cause: err,
    context,
    pluginCode: typeof code === 'string' ? code : undefined,
  });
}

/**
 * At most `max` characters of a user's text (a cell, a header, a line of a file) for an error message, with "…" when
 * cut and control characters shown as escapes: errors never echo a whole file into a terminal or a CI log.
 */
export function excerpt(text: string, max = 60): string {
  const cut = text.length > max ? text.slice(0, max) + '…' : text;
  return cut.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

// ---- suggestions ----------------------------------------------------------------------------------

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev = new Array<number>(n + 1);
  let cur = new Array<number>(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[n]!;
}

/** The closest candidate within a small edit distance, or undefined. Case-insensitive. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(2, Math.floor(Math.max(word.length, best.length) / 3));
  return bestD <= limit ? best : undefined;
}
