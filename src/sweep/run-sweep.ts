/**
 * Runs a sweep: for every task × adapter preset × grid point, build the model, inject the adapter, train, evaluate
 * on dev, and record a RunResult. Every grid point starts from the same base model and the same seed, so the
 * spread across the grid measures sensitivity to the hyperparameters alone.
 */
import { Rng } from '../engine/rng.js';
import { explainEngineError } from '../engine/engine-errors.js';
import { trainClassifier, type EncodedExample, type StepProgress } from '../engine/train/classifier-trainer.js';
import { loadModel } from '../models/load.js';
import { randomWeightInit } from '../models/init.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { countParameters, type ParameterGroup } from '../peft/types.js';
import type { AdapterPreset } from '../peft/preset.js';
import type {
  ClassificationExample,
  ClassificationSplits,
  DecodingSettings,
  GenerationSplits,
  MultipleChoiceSplits,
  PromptTarget,
  Task,
  TaskData,
} from '../tasks/types.js';
import { evaluateClassification } from '../tasks/classification-evaluator.js';
import { evaluateGeneration, type GenerationEvaluation } from '../tasks/generation-evaluator.js';
import { evaluateMultipleChoice, type MultipleChoiceEvaluation } from '../tasks/multiple-choice-evaluator.js';
import type { ClassificationScores } from '../tasks/classification-evaluator.js';
import type { DataLimits } from '../tasks/limit.js';
import { promptContinuationIds } from '../tasks/prompt-rendering.js';
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
  readonly splits: ReadonlyMap<string, TaskData>;
  readonly presets: readonly AdapterPreset[];
  readonly modelSpec: string;
  /** Overrides each preset's default grid, per parameter. */
  readonly grid: (preset: AdapterPreset) => Grid;
  readonly epochs?: number;
  readonly seed: number;
  readonly backend: string;
  /** --data (or $MCEVAL_DATA): where tasks read their files. */
  readonly dataDir?: string;
  /** --limit / --train-limit. */
  readonly limits?: DataLimits;
  /** --log-samples: keep one record per evaluated example in each RunResult. */
  readonly logSamples?: boolean;
  /** --samples, --temperature, --top-p for generation tasks (greedy when absent). */
  readonly decoding?: DecodingSettings;
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

/** Prompt + target as one sequence, with where the target starts; the prompt keeps the tokenizer's BOS. */
function encodePromptTargets(
  tokenizer: TextTokenizer,
  examples: readonly PromptTarget[],
  maxLength: number,
): EncodedExample[] {
  return examples.map((example) => ({
    ...promptContinuationIds(tokenizer, example.prompt, example.target, {
      chat: example.chat,
      chatHistory: example.chatHistory,
      maxLength,
      end: [tokenizer.eosId],
    }),
    label: 0,
  }));
}

/** Runs the whole plan in this thread, in plan order. */
export async function runSweep(
  options: SweepOptions,
  onEvent: (event: SweepEvent) => void = () => {},
): Promise<RunResult[]> {
  const plan = planSweep(options);
  const results: RunResult[] = [];
  for (const [index, entry] of plan.entries()) {
    onEvent({ kind: 'run-start', index, total: plan.length, entry });
    const result = await runPlanEntry(entry, options, options.splits.get(entry.task.name)!, (progress) =>
      onEvent({ kind: 'step', index, total: plan.length, entry, progress }),
    );
    results.push(result);
    onEvent({ kind: 'run-end', index, total: plan.length, result });
  }
  return results;
}

/** Trains and evaluates one grid point; everything it allocates is released before it returns. */
export async function runPlanEntry(
  entry: SweepPlanEntry,
  options: Pick<SweepOptions, 'modelSpec' | 'seed' | 'backend' | 'logSamples' | 'decoding'>,
  data: TaskData,
  onStep: (progress: StepProgress) => void,
): Promise<RunResult> {
  try {
    return await trainAndEvaluate(entry, options, data, onStep);
  } catch (error) {
    throw explainEngineError(error, options.backend);
  }
}

async function trainAndEvaluate(
  entry: SweepPlanEntry,
  options: Pick<SweepOptions, 'modelSpec' | 'seed' | 'backend' | 'logSamples' | 'decoding'>,
  data: TaskData,
  onStep: (progress: StepProgress) => void,
): Promise<RunResult> {
  const { task, preset, point, epochs } = entry;
  const rng = new Rng(options.seed);
  const { model, tokenizer } = loadModel(options.modelSpec);
  const adapter = (() => {
    try {
      if (task.kind === 'classification') {
        model.addClassificationHead(
          task.labels.length,
          randomWeightInit(rng.fork('head'), model.config.initializerRange),
        );
      }
      return preset.method.apply(model, preset.adapterConfig, rng.fork('adapter'), tokenizer);
    } catch (error) {
      model.dispose();
      throw error;
    }
  })();
  try {
    // A classification head trains with every method, as PEFT's modules_to_save does for sequence classification.
    const groups: ParameterGroup[] =
      task.kind === 'classification'
        ? [...adapter.groups, { name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 }]
        : [...adapter.groups];
    const started = performance.now();
    const training = trainClassifier({
      model,
      groups,
      examples:
        task.kind === 'classification'
          ? encode(tokenizer, (data as ClassificationSplits).train, task.maxLength)
          : encodePromptTargets(tokenizer, (data as GenerationSplits | MultipleChoiceSplits).train, task.maxLength),
      objective: task.kind === 'classification' ? 'classification' : 'causal-lm',
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
    const scores =
      task.kind === 'classification'
        ? evaluateClassification(
            model,
            encode(tokenizer, (data as ClassificationSplits).dev, task.maxLength),
            task.extraMetrics,
          )
        : task.kind === 'multiple-choice'
          ? evaluateMultipleChoice(model, tokenizer, (data as MultipleChoiceSplits).eval)
          : await evaluateGeneration(model, tokenizer, task, (data as GenerationSplits).eval, options.decoding);
    const samples = options.logSamples === true ? sampleRecords(task, data, scores) : undefined;
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
      ...('f1' in scores && scores.f1 !== undefined ? { f1: scores.f1 } : {}),
      ...('mcc' in scores && scores.mcc !== undefined ? { mcc: scores.mcc } : {}),
      ...('metrics' in scores ? { metrics: scores.metrics } : {}),
      train_seconds: Math.round(trainSeconds * 100) / 100,
      log: training.log,
      ...(samples === undefined ? {} : { samples }),
    };
  } finally {
    adapter.dispose();
    model.dispose();
  }
}

/**
 * --log-samples: one record per evaluated example — input, target, prediction (raw and filtered for generation),
 * correctness, and the class log-probabilities of classification tasks.
 */
export function sampleRecords(
  task: Task,
  data: TaskData,
  scores: ClassificationScores | GenerationEvaluation | MultipleChoiceEvaluation,
): Record<string, unknown>[] {
  if (task.kind === 'classification') {
    const dev = (data as ClassificationSplits).dev;
    const logProbabilities = (scores as ClassificationScores).logProbabilities;
    return dev.map((example, i) => {
      const row = logProbabilities[i]!;
      const predicted = row.indexOf(Math.max(...row));
      return {
        doc_id: i,
        input: example.textPair === undefined ? example.text : [example.text, example.textPair],
        target: task.labels[example.label],
        prediction: task.labels[predicted],
        correct: predicted === example.label,
        logprobs: Object.fromEntries(task.labels.map((label, k) => [label, row[k]])),
      };
    });
  }
  if (task.kind === 'multiple-choice') {
    return (data as MultipleChoiceSplits).eval.map((doc, i) => ({
      doc_id: doc.id,
      input: doc.context,
      choices: doc.choices,
      target: doc.gold,
      ...(scores as MultipleChoiceEvaluation).samples[i],
    }));
  }
  const evaluation = scores as GenerationEvaluation;
  return (data as GenerationSplits).eval.map((doc, i) => ({
    doc_id: doc.id,
    input: doc.prompt,
    // Chat variants: the whole conversation the template rendered (few-shot turns, then the prompt).
    ...(doc.chat === true ? { messages: [...(doc.chatHistory ?? []), { role: 'user', content: doc.prompt }] } : {}),
    // What the filtered response is compared with (lm-eval's target), and the reference whose NLL is reported.
    target: doc.answer ?? doc.reference,
    ...(doc.answer === undefined ? {} : { reference: doc.reference }),
    response: evaluation.responses[i],
    ...evaluation.samples[i],
  }));
}
