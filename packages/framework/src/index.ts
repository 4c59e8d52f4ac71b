/**
 * @weightshare/framework — the core of weightshare: the pipeline spec and its validation, the engine, the plugin
 * contract, data loading, metrics and run output.
 */
export * from './errors.js';
export * from './random.js';
export * from './math/dense.js';
export { lbfgsDirection } from './math/lbfgs.js';
export { dotAt, choleskyMirrored, choleskySolveMirrored } from './math/cholesky.js';
export * as simd from './math/wasm/kernels.js';
export { addProduct, addProductT } from './math/products.js';
export { tanh64, tanhInto } from './math/tanh.js';
export * from './plugin/types.js';
export * from './components/index.js';
export { parameterNames } from './model/parameters.js';
export { fitProblem } from './spec/load.js';
export * as standardOptions from './plugin/standard-options.js';
export * from './spec/types.js';
export { loadCommonJs, codeCacheFile, codeCacheUses, writeCodeCache, type CodeCacheUse } from './code-cache.js';
export { YAML_BUNDLE } from './spec/yaml-lib.js';
export { loadSpecFile, loadSpecText, specValidatorKey, validatorKey, validatorOf, validatorCompiler, optionSchemaOf, SPEC_VALIDATOR_OPTIONS, OPTION_VALIDATOR_OPTIONS, PRECOMPILED_VALIDATORS, PRECOMPILED_OPTION_VALIDATORS, type ValidatorKind, parseSpecText, validateSpec, assignmentOf, DEFAULT_ROUNDS_TOL, type LoadedSpec, type ParsedSpec, type SpecOverrides, type SetOverride } from './spec/load.js';
export { loadPipeline, type LoadedPipeline, type PluginLoading } from './spec/load-pipeline.js';
export { importPlugin, importLocated, locatePlugin, specPluginSources, installedPluginSources, type LocatedPlugin, type PluginSources } from './plugin/load.js';
export { specReferenceMarkdown } from './spec/reference.js';
export { buildSpecSchema, methodObject, SPEC_API_VERSION, SCHEMA_ID, DATA_SOURCES, SPLIT_METHODS, RELATION_METHODS, INIT_METHODS } from './spec/schema.js';
export { PluginRegistry, validatePlugin, type RegisteredMethod } from './engine/registry.js';
export { TOKENS, stageToken } from './engine/tokens.js';
export { InProcessExecutor, TaskFailure } from './engine/executor.js';
export { WorkerExecutor } from './engine/worker-executor.js';
export { silentProgress, type ProgressReporter } from './engine/progress.js';
export {
  createRunContainer,
  runPipeline,
  poolTasks,
  Engine,
  RunResources,
  type RunOptions,
} from './engine/engine.js';
export * from './results.js';
export { planObjective, exactPenalty, type ObjectivePlan, type PenaltyForm } from './engine/objective.js';
export { Anderson } from './engine/anderson.js';
export { loadDataset, splitRows, prepareData, holdOutValidation, loadPrepared, clearPreparedData, type PreparedData, type RawDataset, type RawFeature, type MissingReport, type SpecPlace } from './data/dataset.js';
export { buildRelation, estimateRelation, sparsify, relationFacts, relationSummary, precisionWeights } from './data/relation.js';
export { learnCovariance, kmeans, clusterRelation, adjustedRandIndex, correlations } from './data/learn.js';
export { symmetricEigen } from './math/eigen.js';
export { readCsv, parseCell, readMatrixFile, detectDelimiter, DEFAULT_MISSING_TOKENS, type MatrixExpectation } from './data/csv.js';
export * from './data/preprocess.js';
export { evaluate, predictAll, outputsAll, scorePredictions, scoreOutputs, rocAuc, taskLoss, logistic, METRICS_BY_KIND, type Evaluated, type Metrics, type RegressionMetrics, type ClassificationMetrics, type MulticlassMetrics, type CountMetrics, type TaskMetrics } from './eval/metrics.js';
export { writeFileAtomic, createRunDir } from './io.js';
export { matrixCsv } from './output.js';
export { encodeNpy, decodeNpy } from './store/npy.js';
export { sha256, matrixHash, jsonHash, canonicalJson } from './store/hash.js';
export { FolderStore, CacheStore, nullStore, readCheckpoint, writeCheckpoint, type StageStore, type StoredStage, type StageSource, type CheckpointRecord } from './store/stage-store.js';
export { waitForCommits } from './store/committer.js';
export { RunFolder, listRuns, scanRuns, specInputs, MANIFEST_FORMAT, type Manifest } from './store/run-folder.js';
export { acquireLock, processAlive } from './store/lock.js';
export { pruneCache, removeDeadTemps, type PruneReport } from './store/cache.js';
export { verifyRunFiles, readVerified, type FileCheck } from './store/verify.js';
export { expandCandidates, sampleCandidates, rangeProblem, type ParameterValues, parseParamFlag, metricOf, selectBest, meanStd, summarize, REGRESSION_METRICS, CLASSIFICATION_METRICS, type SweepSpec, type SweepMetric, type Candidate } from './sweep/sweep.js';
export { loadModel, Model, fastDecimal, type PredictInput, type Predictions, type CsvPredictionReport, type UnseenTaskPolicy } from './model/predict.js';
export { MODEL_FORMAT, modelFiles, originalWeightsCsv, type ModelDescription } from './model/artifact.js';
export { FRAMEWORK_VERSION } from './version.js';
export { splitRowsCsv } from './model/rows.js';
