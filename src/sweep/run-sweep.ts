/**
 * Runs a sweep: for every task × adapter preset × grid point, build the model, inject the adapter, train, evaluate
 * on dev, and record a RunResult. Every grid point starts from the same base model and the same seed, so the
 * spread across the grid measures sensitivity to the hyperparameters alone.
 */
import { Rng } from '../engine/rng.js';
import { explainEngineError } from '../engine/engine-errors.js';
import { fineTune, type EncodedExample, type StepProgress, type TrainResult } from '../train/fine-tune.js';
import { trainWithAccumulation, type AccumulationSetting } from '../train/auto-accumulation.js';
import type { Model } from '../models/model.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { loadAnyModel } from '../models/load.js';
import { countParameters, savedVariables, type AppliedAdapter, type ParameterGroup } from '../peft/types.js';
import type { AdapterPreset } from '../peft/preset.js';
import type { DecodingSettings, LoadedTask, TaskKind } from '../tasks/types.js';
import { RUNNERS } from '../runners/index.js';
import { evaluateAtBatchSize, type EvalBatchSetting } from '../runners/eval-batch.js';
import { tf } from '../engine/tf.js';
import type { DataLimits } from '../data/limit.js';
import type { RunResult } from '../report/results.js';
import { gridPoints, type Grid, type GridPoint } from './grid.js';
import { BaseModelCache } from '../models/base-model-cache.js';
import { saveTrainedAdapter } from '../peft/save-trained.js';
import { adapterConfigFor } from '../peft/target-aliases.js';

export interface SweepPlanEntry {
  readonly task: LoadedTask;
  readonly preset: AdapterPreset;
  readonly point: GridPoint;
  readonly epochs: number;
}

export interface SweepOptions {
  /** Each task with its data, loaded and limited once by the caller (it also sizes the progress bar from it). */
  readonly tasks: readonly LoadedTask[];
  readonly presets: readonly AdapterPreset[];
  readonly modelSpec: string;
  /** Overrides each preset's default grid, per parameter. */
  readonly grid: (preset: AdapterPreset) => Grid;
  readonly epochs?: number;
  readonly seed: number;
  /** --grad-accum: overrides each preset's gradientAccumulation; auto finds it (train/auto-accumulation.ts). */
  readonly gradientAccumulation?: AccumulationSetting;
  readonly backend: string;
  /** --data (or $MCEVAL_DATA): where worker threads read the tasks' files again. */
  readonly dataDir?: string;
  /** --limit / --train-limit / --train-file, applied again by worker threads. */
  readonly limits?: DataLimits;
  /** --log-samples: keep one record per evaluated example in each RunResult. */
  readonly logSamples?: boolean;
  /** --samples, --temperature, --top-p for generation tasks (greedy when absent). */
  readonly decoding?: DecodingSettings;
  /** --eval-batch-size: sequences per evaluation batch, or auto (each task kind's default when absent). */
  readonly evalBatchSize?: EvalBatchSetting;
}

/** One grid point to run: its place in the whole plan, and where to save its trained adapter (if anywhere). */
export interface SweepJob {
  readonly planIndex: number;
  readonly entry: SweepPlanEntry;
  /** The folder the trained adapter is saved to, in PEFT's layout; not saved when absent. */
  readonly adapterDir?: string;
}

/** Events carry the job's position among the jobs run (`index` of `total`), not its plan index. */
export type SweepEvent =
  | { readonly kind: 'run-start'; readonly index: number; readonly total: number; readonly entry: SweepPlanEntry }
  | {
      readonly kind: 'step';
      readonly index: number;
      readonly total: number;
      readonly entry: SweepPlanEntry;
      readonly progress: StepProgress;
    }
  | {
      readonly kind: 'run-end';
      readonly index: number;
      readonly total: number;
      readonly job: SweepJob;
      readonly result: RunResult;
    };

export function planSweep(options: SweepOptions): SweepPlanEntry[] {
  return options.tasks.flatMap((task) =>
    options.presets.flatMap((preset) =>
      gridPoints(options.grid(preset)).map((point) => ({
        task,
        preset,
        point,
        epochs: options.epochs ?? preset.training.epochs,
      })),
    ),
  );
}

/** Every plan entry as a job, nothing saved. */
export function allJobs(options: SweepOptions): SweepJob[] {
  return planSweep(options).map((entry, planIndex) => ({ planIndex, entry }));
}

/**
 * Runs the jobs (default: the whole plan) in this thread, in order. The base model is read once for all of them;
 * every job still starts from the same weights.
 */
export async function runSweep(
  options: SweepOptions,
  onEvent: (event: SweepEvent) => void = () => {},
  jobs: readonly SweepJob[] = allJobs(options),
): Promise<RunResult[]> {
  const results: RunResult[] = [];
  const baseModels = new BaseModelCache();
  try {
    for (const [index, job] of jobs.entries()) {
      const { entry } = job;
      onEvent({ kind: 'run-start', index, total: jobs.length, entry });
      const result = await runPlanEntry(job, { ...options, baseModels }, (progress) =>
        onEvent({ kind: 'step', index, total: jobs.length, entry, progress }),
      );
      results.push(result);
      onEvent({ kind: 'run-end', index, total: jobs.length, job, result });
    }
  } finally {
    baseModels.dispose();
  }
  return results;
}

/** Trains and evaluates one grid point; everything it allocates is released before it returns. */
export async function runPlanEntry(
  job: Pick<SweepJob, 'entry' | 'adapterDir'>,
  options: RunSettings,
  onStep: (progress: StepProgress) => void,
): Promise<RunResult> {
  try {
    return await trainAndEvaluate(job.entry.task, job.entry, job.adapterDir, options, onStep);
  } catch (error) {
    throw explainEngineError(error, options.backend);
  }
}

/** What every run of a sweep shares, and the base models already read. */
export type RunSettings = Pick<
  SweepOptions,
  'modelSpec' | 'seed' | 'backend' | 'logSamples' | 'decoding' | 'gradientAccumulation' | 'evalBatchSize'
> & {
  readonly baseModels?: BaseModelCache;
};

async function trainAndEvaluate<K extends TaskKind>(
  loaded: LoadedTask<K>,
  { preset, point, epochs }: SweepPlanEntry,
  adapterDir: string | undefined,
  options: RunSettings,
  onStep: (progress: StepProgress) => void,
): Promise<RunResult> {
  const { task, data } = loaded;
  const runner = RUNNERS[loaded.kind];
  // --grad-accum auto trains the run again from its start where the device refuses a step (auto-accumulation.ts).
  const { result: trained, accumulation } = await trainWithAccumulation(
    options.gradientAccumulation ?? preset.training.gradientAccumulation,
    { task: task.name, batchSize: point.bs, backend: tf.getBackend() },
    (accumulation) => trainFromStart(loaded, { preset, point, epochs }, options, accumulation, onStep),
  );
  const { model, tokenizer, adapter, ownGroups, adapterConfig, examples, training, trainSeconds } = trained;
  try {
    const groups: ParameterGroup[] = [...adapter.groups, ...ownGroups];
    const { scores, batchSize: evalBatchSize } = await evaluateAtBatchSize(
      options.evalBatchSize,
      { task: task.name, backend: tf.getBackend(), kindDefault: runner.evalBatchSize },
      (batchSize) => runner.evaluate(model, tokenizer, task, data, { decoding: options.decoding, batchSize }),
    );
    const samples = options.logSamples === true ? runner.sampleRecords(task, data, scores) : undefined;
    if (adapterDir !== undefined) {
      await saveTrainedAdapter(model, preset, savedVariables(adapter, ownGroups), adapterDir, adapterConfig);
    }
    return {
      task: task.name,
      adapter: preset.name,
      method: adapter.method,
      model: options.modelSpec,
      backend: options.backend,
      seed: options.seed,
      lr: point.lr,
      batch_size: point.bs,
      epochs: preset.method.evaluatesOnly === true ? 0 : epochs,
      max_length: task.maxLength,
      optimizer: 'adamw',
      lr_scheduler: 'linear',
      weight_decay: preset.training.weightDecay,
      warmup_ratio: preset.training.warmupRatio,
      max_grad_norm: preset.training.maxGradNorm,
      grad_accum: accumulation,
      ...(preset.training.padToMultipleOf === undefined ? {} : { pad_to_multiple_of: preset.training.padToMultipleOf }),
      ...(preset.training.groupByLength === true ? { group_by_length: true } : {}),
      eval_batch_size: evalBatchSize,
      hyperparameters: adapter.hyperparameters,
      trainable_params: countParameters(groups),
      steps: training.steps,
      train_examples: examples.length,
      eval_examples: runner.evaluationSize(data),
      final_train_loss: training.diverged ? Number.NaN : (training.epochLosses.at(-1) ?? Number.NaN),
      diverged: training.diverged,
      diverged_step: training.divergedAtStep,
      ...runner.metrics(scores),
      train_seconds: Math.round(trainSeconds * 100) / 100,
      ...(training.peakTensorBytes === undefined ? {} : { peak_tensor_bytes: training.peakTensorBytes }),
      ...(training.peakGpuBytes === undefined ? {} : { peak_gpu_bytes: training.peakGpuBytes }),
      ...(training.replayed === undefined ? {} : { replayed_steps: training.replayed }),
      log: training.log,
      ...(samples === undefined ? {} : { samples }),
    };
  } finally {
    adapter.dispose();
    model.dispose();
  }
}

/** A run's model and adapter, trained: what evaluation and the row take. */
interface TrainedRun {
  readonly model: Model;
  readonly tokenizer: TextTokenizer;
  readonly adapter: AppliedAdapter;
  readonly ownGroups: readonly ParameterGroup[];
  readonly adapterConfig: AdapterPreset['adapterConfig'];
  readonly examples: readonly EncodedExample[];
  readonly training: TrainResult;
  /** Encoding and fine-tuning, in the attempt that trained (auto's refused ones left out). */
  readonly trainSeconds: number;
}

/**
 * The run from its start — the base weights, the adapter from the seed, fine-tuning in `accumulation` micro-batches a
 * step — freeing what it made if training fails.
 */
async function trainFromStart<K extends TaskKind>(
  { task, data, kind }: LoadedTask<K>,
  { preset, point, epochs }: Omit<SweepPlanEntry, 'task'>,
  options: RunSettings,
  accumulation: number,
  onStep: (progress: StepProgress) => void,
): Promise<TrainedRun> {
  const runner = RUNNERS[kind];
  const rng = new Rng(options.seed);
  const { model, tokenizer } = loadAnyModel(options.modelSpec, options.baseModels);
  // The preset's targets as this model names them (an encoder's query/value for a decoder's q_proj/v_proj).
  const adapterConfig = adapterConfigFor(model, preset.adapterConfig);
  const { adapter, ownGroups } = (() => {
    try {
      const ownGroups = runner.prepareModel(model, task, rng);
      return { ownGroups, adapter: preset.method.apply(model, adapterConfig, rng.fork('adapter'), tokenizer) };
    } catch (error) {
      model.dispose();
      throw error;
    }
  })();
  try {
    const started = performance.now();
    const examples = runner.encodeTraining(tokenizer, task, data, model);
    const training =
      preset.method.evaluatesOnly === true
        ? untrained()
        : await fineTune({
            model,
            groups: [...adapter.groups, ...ownGroups],
            examples,
            objective: runner.objective,
            learningRate: point.lr,
            batchSize: point.bs,
            epochs,
            weightDecay: preset.training.weightDecay,
            warmupRatio: preset.training.warmupRatio,
            maxGradNorm: preset.training.maxGradNorm,
            divergence: { factor: preset.training.divergenceFactor, patience: preset.training.divergencePatience },
            gradientAccumulation: accumulation,
            ...(preset.training.padToMultipleOf === undefined
              ? {}
              : { padToMultipleOf: preset.training.padToMultipleOf }),
            groupByLength: preset.training.groupByLength === true,
            rng: rng.fork('train'),
            hooks: adapter,
            onStep,
          });
    const trainSeconds = (performance.now() - started) / 1000;
    return { model, tokenizer, adapter, ownGroups, adapterConfig, examples, training, trainSeconds };
  } catch (error) {
    adapter.dispose();
    model.dispose();
    throw error;
  }
}

/** The training result of a preset that only evaluates (`--adapter none`): no step taken. */
function untrained(): TrainResult {
  return { steps: 0, epochLosses: [], diverged: false, log: [] };
}
