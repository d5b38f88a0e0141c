/**
 * Runs a sweep: for every task × adapter preset × grid point, build the model, inject the adapter, train, evaluate
 * on dev, and record a RunResult. Every grid point starts from the same base model and the same seed, so the
 * spread across the grid measures sensitivity to the hyperparameters alone.
 */
import { Rng } from '../engine/rng.js';
import { trainClassifier, type EncodedExample, type StepProgress } from '../engine/train/classifier-trainer.js';
import { loadModel } from '../models/load.js';
import { randomWeightInit } from '../models/init.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { countParameters, type ParameterGroup } from '../peft/types.js';
import type { AdapterPreset } from '../peft/preset.js';
import type { ClassificationExample, ClassificationSplits, Task } from '../tasks/types.js';
import { evaluateClassification } from '../tasks/classification-evaluator.js';
import type { RunResult } from '../report/results.js';
import { gridPoints, type Grid, type GridPoint } from './grid.js';

export interface SweepPlanEntry {
  readonly task: Task;
  readonly preset: AdapterPreset;
  readonly point: GridPoint;
  readonly epochs: number;
}

export interface SweepOptions {
  readonly tasks: readonly Task[];
  /** Each task's data, loaded once by the caller (it also sizes the progress bar from it). */
  readonly splits: ReadonlyMap<string, ClassificationSplits>;
  readonly presets: readonly AdapterPreset[];
  readonly modelSpec: string;
  /** Overrides each preset's default grid, per parameter. */
  readonly grid: (preset: AdapterPreset) => Grid;
  readonly epochs?: number;
  readonly seed: number;
  readonly backend: string;
  /** --data (or $MCEVAL_DATA): where tasks read their files. */
  readonly dataDir?: string;
}

export type SweepEvent =
  | { readonly kind: 'run-start'; readonly index: number; readonly total: number; readonly entry: SweepPlanEntry }
  | {
      readonly kind: 'step';
      readonly index: number;
      readonly total: number;
      readonly entry: SweepPlanEntry;
      readonly progress: StepProgress;
    }
  | { readonly kind: 'run-end'; readonly index: number; readonly total: number; readonly result: RunResult };

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

function encode(
  tokenizer: TextTokenizer,
  examples: readonly ClassificationExample[],
  maxLength: number,
): EncodedExample[] {
  // A decoder reads a pair as one text, its two parts on separate lines.
  const text = (example: ClassificationExample) =>
    example.textPair === undefined ? example.text : `${example.text}\n${example.textPair}`;
  return examples.map((example) => ({
    ids: tokenizer.encode(text(example)).slice(0, maxLength),
    label: example.label,
  }));
}

/** Runs the whole plan in this thread, in plan order. */
export function runSweep(options: SweepOptions, onEvent: (event: SweepEvent) => void = () => {}): RunResult[] {
  const plan = planSweep(options);
  const results: RunResult[] = [];
  plan.forEach((entry, index) => {
    onEvent({ kind: 'run-start', index, total: plan.length, entry });
    const result = runPlanEntry(entry, options, options.splits.get(entry.task.name)!, (progress) =>
      onEvent({ kind: 'step', index, total: plan.length, entry, progress }),
    );
    results.push(result);
    onEvent({ kind: 'run-end', index, total: plan.length, result });
  });
  return results;
}

/** Trains and evaluates one grid point; everything it allocates is released before it returns. */
export function runPlanEntry(
  entry: SweepPlanEntry,
  options: Pick<SweepOptions, 'modelSpec' | 'seed' | 'backend'>,
  splits: ClassificationSplits,
  onStep: (progress: StepProgress) => void,
): RunResult {
  const { task, preset, point, epochs } = entry;
  const rng = new Rng(options.seed);
  const { model, tokenizer } = loadModel(options.modelSpec);
  const adapter = (() => {
    try {
      model.addClassificationHead(
        task.labels.length,
        randomWeightInit(rng.fork('head'), model.config.initializerRange),
      );
      return preset.method.apply(model, preset.adapterConfig, rng.fork('adapter'), tokenizer);
    } catch (error) {
      model.dispose();
      throw error;
    }
  })();
  try {
    // The classification head trains with every method, as PEFT's modules_to_save does for sequence classification.
    const head: ParameterGroup = { name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 };
    const groups = [...adapter.groups, head];
    const started = performance.now();
    const training = trainClassifier({
      model,
      groups,
      examples: encode(tokenizer, splits.train, task.maxLength),
      learningRate: point.lr,
      batchSize: point.bs,
      epochs,
      weightDecay: preset.training.weightDecay,
      warmupRatio: preset.training.warmupRatio,
      maxGradNorm: preset.training.maxGradNorm,
      rng: rng.fork('train'),
      hooks: adapter,
      onStep,
    });
    const trainSeconds = (performance.now() - started) / 1000;
    const scores = evaluateClassification(model, encode(tokenizer, splits.dev, task.maxLength), task.extraMetrics);
    return {
      task: task.name,
      adapter: preset.name,
      method: adapter.method,
      model: options.modelSpec,
      backend: options.backend,
      seed: options.seed,
      lr: point.lr,
      batch_size: point.bs,
      epochs,
      max_length: task.maxLength,
      optimizer: 'adamw',
      lr_scheduler: 'linear',
      weight_decay: preset.training.weightDecay,
      warmup_ratio: preset.training.warmupRatio,
      max_grad_norm: preset.training.maxGradNorm,
      hyperparameters: adapter.hyperparameters,
      trainable_params: countParameters(groups),
      steps: training.steps,
      final_train_loss: training.diverged ? Number.NaN : (training.epochLosses.at(-1) ?? Number.NaN),
      diverged: training.diverged,
      accuracy: scores.accuracy,
      nll: scores.nll,
      ...(scores.f1 === undefined ? {} : { f1: scores.f1 }),
      ...(scores.mcc === undefined ? {} : { mcc: scores.mcc }),
      train_seconds: Math.round(trainSeconds * 100) / 100,
      log: training.log,
    };
  } finally {
    adapter.dispose();
    model.dispose();
  }
}
