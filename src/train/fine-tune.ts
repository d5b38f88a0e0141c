/**
 * Fine-tunes a model's adapter (and classification head) on labelled token sequences — or, with the causal-LM
 * objective, on prompt + target sequences, learning the target tokens only: AdamW, linear schedule with
 * warm-up, global-norm clipping, seeded shuffling and dropout. Stops early, and says so, when the loss diverges.
 * Every tensor a step creates is released before the next, but for its loss and norm where they are read while the
 * next is recorded (webgpu).
 */
import { addEach } from '../engine/ops/add-each.js';
import { watchPeakGpuBytes, watchPeakTensorBytes } from '../engine/peak-bytes.js';
import { ForwardConstants } from '../models/forward-constants.js';
import { tf, type Scalar, type Tensor, type Variable } from '../engine/tf.js';
import type { Rng } from '../engine/rng.js';
import { requireDecoder, type Model } from '../models/model.js';
import { EncoderModel } from '../models/encoder/model.js';
import type { ParameterGroup, TrainingHooks } from '../peft/types.js';
import { padInputs, type PaddedBatch, type PaddingRule } from '../models/tokenizers/padding.js';
import { AdamW } from './adamw.js';
import { globalNormClipping } from './clip.js';
import { linearScheduleMultiplier, warmupSteps } from './schedule.js';
import { batchesPerEpoch, epochBatches } from './batches.js';
import { batchShapes, microBatchCount, splitRows } from './step-shapes.js';
import {
  causalLmLoss,
  classificationLoss,
  countedTargets,
  rowTargetCount,
  shapeFixedCausalLmLoss,
  targetMask,
} from './loss.js';
import { overlapSetting } from '../engine/overlap-setting.js';
import { replaySetting } from '../engine/replay-setting.js';
import { derived } from '../engine/replay/step-values.js';
import { StepReplayer } from '../engine/replay/step-replayer.js';

export interface EncodedExample {
  readonly ids: readonly number[];
  /** An encoder's sentence pair: each token's segment (0 for the first text, 1 for the second under BERT). */
  readonly tokenTypeIds?: readonly number[];
  /** The class (classification objective). */
  readonly label: number;
  /** Causal-LM objective: the index in `ids` where the target begins (the prompt before it is not learned). */
  readonly targetStart?: number;
}

/** What a step learns: the label through the classification head, or the target tokens through the LM head. */
export type TrainingObjective = 'classification' | 'causal-lm';

export interface TrainOptions {
  /** A decoder, or an encoder for the classification objective. */
  readonly model: Model;
  readonly groups: readonly ParameterGroup[];
  readonly examples: readonly EncodedExample[];
  readonly learningRate: number;
  readonly batchSize: number;
  readonly epochs: number;
  readonly weightDecay: number;
  readonly warmupRatio: number;
  readonly maxGradNorm: number;
  readonly rng: Rng;
  /** The adapter's regulariser, diagnostics and epoch/step callbacks. */
  readonly hooks?: TrainingHooks;
  /** Default: classification. */
  readonly objective?: TrainingObjective;
  /**
   * Stop as diverged when the loss stays above `factor` × the first step's loss for `patience` consecutive steps
   * (a non-finite loss or gradient norm always stops the run). Absent: only non-finite values stop it.
   */
  readonly divergence?: { readonly factor: number; readonly patience: number };
  /**
   * Split each batch into this many micro-batches, run forward and backward on each in turn and sum their gradients,
   * each weighted by its share of the batch's loss terms (examples, or counted target tokens), before one optimiser
   * step: the same update as the whole batch at once, in the memory of one micro-batch. Default 1.
   */
  readonly gradientAccumulation?: number;
  /**
   * Pad each batch to a multiple of this many tokens (transformers' `pad_to_multiple_of`), up to the model's positions:
   * fewer shapes, so fewer kernels built and, on webgpu, steps a replay can stand for. Default 1: to the longest row.
   */
  readonly padToMultipleOf?: number;
  /** Batch rows of about one length together (transformers' `group_by_length`: batches.ts's lengthGroupedOrder). */
  readonly groupByLength?: boolean;
  readonly onStep?: (progress: StepProgress) => void;
}

export interface StepProgress {
  readonly epoch: number;
  readonly step: number;
  readonly totalSteps: number;
  readonly loss: number;
}

/** One line of a run's training log. */
export interface StepLogEntry {
  readonly epoch: number;
  readonly step: number;
  readonly lr: number;
  /** Task loss of the batch (any adapter regulariser excluded). */
  readonly loss: number;
  /** Global gradient norm before clipping. */
  readonly grad_norm: number;
  readonly [diagnostic: string]: number;
}

export interface TrainResult {
  readonly steps: number;
  /** Mean training loss of each completed epoch. */
  readonly epochLosses: number[];
  /** Every step: learning rate, task loss, gradient norm and the adapter's diagnostics. */
  readonly log: StepLogEntry[];
  readonly diverged: boolean;
  /** The step at which the run was stopped as diverged. */
  readonly divergedAtStep?: number;
  /**
   * The most bytes the backend's tensors held at once during training (peak-bytes.ts): weights, optimiser state and a
   * step's activations at their largest.
   */
  readonly peakTensorBytes?: number;
  /** On webgpu, the most GPU memory tfjs's buffer pool held during training (peak-bytes.ts's watchPeakGpuBytes). */
  readonly peakGpuBytes?: number;
  /** Steps recorded while the step before was still being read (webgpu; fineTune says when). */
  readonly overlapped?: number;
  /** Steps replayed rather than recorded (webgpu, MCEVAL_WEBGPU_REPLAY=on; fineTune says when). */
  readonly replayed?: number;
}

/** Counts the consecutive steps whose loss exceeds a multiple of the first step's. */
class DivergenceWatch {
  private first: number | undefined;
  private above = 0;

  constructor(private readonly rule: TrainOptions['divergence']) {}

  /** Whether the run has diverged after a step with this loss and gradient norm. */
  diverged(loss: number, gradNorm: number): boolean {
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) return true;
    if (this.rule === undefined) return false;
    this.first ??= loss;
    this.above = loss > this.rule.factor * this.first ? this.above + 1 : 0;
    return this.above >= this.rule.patience;
  }

  /** Whether the next step's loss could stop the run by the rule (a finite one that stays too high too long). */
  mayStopByRule(): boolean {
    return this.rule !== undefined && this.above + 1 >= this.rule.patience;
  }
}

/**
 * Whether this run records each step before reading the one before it: on webgpu (reads are asynchronous, and the host
 * records while the GPU runs), with the one-kernel AdamW (whose `hold` keeps a diverged step's weights), and for
 * adapters whose hooks read nothing between steps (AdaLoRA's pruning and the exact-Dirichlet sampler do).
 */
function overlaps(optimizer: AdamW, hooks: TrainingHooks): boolean {
  return (
    tf.getBackend() === 'webgpu' &&
    overlapSetting() === 'on' &&
    optimizer.holdsUpdates &&
    hooks.prepareStep === undefined &&
    hooks.settleStep === undefined &&
    hooks.afterStep === undefined
  );
}

/**
 * Whether this run replays steps it has recorded and checked (engine/replay/step-replayer.ts) where asked: an
 * overlapping run (a replayed step holds on the one before as the recorded did) whose adapter's regulariser, if any,
 * makes its host values as a replay can make them again (`stepValuesNoted`: MonteCLoRA's noise), and without
 * diagnostics read apart from the step's numbers (a replay makes no tensor to read them from).
 */
function replays(overlapping: boolean, hooks: TrainingHooks): boolean {
  return (
    overlapping &&
    replaySetting() === 'on' &&
    (hooks.regularizer === undefined || hooks.stepValuesNoted === true) &&
    hooks.diagnostics === undefined
  );
}

/**
 * A step recorded (or replayed) and not yet read: where it stands, its numbers on the device, and their reads begun.
 */
interface RecordedStep {
  readonly epoch: number;
  readonly step: number;
  readonly lr: number;
  readonly rows: number;
  /**
   * [total loss, task loss, gradient norm, the adapter's step log]: read, and the next step's AdamW `hold`; where
   * replayed, a tensor over the buffer the replay wrote them to, or none where the replayer could not make one.
   */
  readonly numbers?: Tensor;
  readonly values: Promise<StepNumbers>;
  readonly diagnostics: Record<string, number> | Promise<Record<string, number>> | undefined;
}

/**
 * Asynchronous only in how it reads each step's loss and gradient norm back (awaiting them), so that backends without
 * synchronous reads (WebGPU in Node) can train; the numbers are the same.
 *
 * On webgpu a step is recorded before the one before it is read (`overlaps`): the host records while the GPU runs,
 * where each otherwise waited on the other. The order of the device's work is the same, so are the numbers. A run
 * stops at the same step with the same weights: a step's non-finite loss or norm makes the next step's AdamW keep every
 * weight and moment as they were (its `hold`), and where the next loss could stop the run by the divergence rule the
 * step is read before the next is recorded. Each epoch ends with its last step read.
 */
export async function fineTune(options: TrainOptions): Promise<TrainResult> {
  const { model, examples, batchSize, epochs } = options;
  const optimizer = new AdamW(options.groups, { weightDecay: options.weightDecay });
  const hooks = options.hooks ?? {};
  const totalSteps = batchesPerEpoch(examples.length, batchSize) * epochs;
  const warmup = warmupSteps(totalSteps, options.warmupRatio);
  const shuffleRng = options.rng.fork('shuffle');
  const dropoutRng = options.rng.fork('dropout');
  const epochLosses: number[] = [];
  const log: StepLogEntry[] = [];
  const watch = new DivergenceWatch(options.divergence);
  const overlapping = overlaps(optimizer, hooks);
  const padding: PaddingRule = { multipleOf: options.padToMultipleOf ?? 1, limit: positionLimit(model) };
  const rowLengths = examples.map((example) => example.ids.length);
  const lengths = options.groupByLength === true ? rowLengths : undefined;
  // Every epoch's batches, drawn in the epochs' order: the replayer is told how many shapes they make.
  const schedule = Array.from({ length: epochs }, () => epochBatches(examples.length, batchSize, shuffleRng, lengths));
  const accumulation = options.gradientAccumulation ?? 1;
  const objective = options.objective ?? 'classification';
  // A causal-LM loss at the counted targets makes each count a shape (prepareStep's key).
  const targetsOf =
    objective === 'causal-lm' && !shapeFixedLoss(objective, padding)
      ? (row: number) => rowTargetCount(examples[row]!.ids.length, examples[row]!.targetStart)
      : undefined;
  const replayer = replays(overlapping, hooks)
    ? new StepReplayer(
        tf.backend(),
        new Set(batchShapes(rowLengths, schedule.flat(), padding, accumulation, targetsOf)).size,
      )
    : undefined;
  let step = 0;
  let overlapped = 0;
  let lossSum = 0;
  let lossCount = 0;
  const memory = watchPeakTensorBytes();
  const gpuMemory = watchPeakGpuBytes();
  const peaks = () => ({
    peakTensorBytes: memory.peak,
    ...(gpuMemory === undefined ? {} : { peakGpuBytes: gpuMemory.peak }),
  });
  /** Reads a recorded step into the log; its step number where it stopped the run as diverged. */
  const read = async (recorded: RecordedStep): Promise<number | undefined> => {
    try {
      const { loss, gradNorm, logged } = await recorded.values;
      log.push({
        epoch: recorded.epoch,
        step: recorded.step,
        lr: recorded.lr,
        loss,
        grad_norm: gradNorm,
        ...logged,
        ...((await recorded.diagnostics) ?? {}),
      });
      options.onStep?.({ epoch: recorded.epoch, step: recorded.step, totalSteps, loss });
      if (watch.diverged(loss, gradNorm)) return recorded.step;
      lossSum += loss * recorded.rows;
      lossCount += recorded.rows;
      return undefined;
    } finally {
      recorded.numbers?.dispose();
    }
  };
  let pending: RecordedStep | undefined;
  /** The step log's keys of the latest recorded step: a replayed step's, whose commands are a recorded step's. */
  let logKeys: readonly string[] = [];
  /** Reads the step in flight, if any, and leaves none; as `read`. */
  const readPending = async (): Promise<number | undefined> => {
    const recorded = pending;
    pending = undefined;
    return recorded === undefined ? undefined : read(recorded);
  };
  const replayedCount = () => (replayer === undefined ? {} : { replayed: replayer.replayed });
  const stopped = (at: number): TrainResult => ({
    steps: at,
    epochLosses,
    log,
    diverged: true,
    divergedAtStep: at,
    ...peaks(),
    overlapped,
    ...replayedCount(),
  });
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      hooks.beginEpoch?.(epoch);
      // Parameters of the groups that train in this epoch; the others keep their values and optimiser state.
      const trained = new Set(
        options.groups.filter((group) => group.trainsInEpoch?.(epoch) ?? true).flatMap((group) => group.variables),
      );
      lossSum = 0;
      lossCount = 0;
      for (const indices of schedule[epoch]!) {
        const rows = indices.map((i) => examples[i]!);
        const lr = options.learningRate * linearScheduleMultiplier(step, totalSteps, warmup);
        // The step before is read first where its loss could stop the run by the rule: the next update's hold
        // covers only a non-finite one.
        if (watch.mayStopByRule()) {
          const at = await readPending();
          if (at !== undefined) return stopped(at);
        }
        await hooks.prepareStep?.();
        const prepared = prepareStep(model, rows, objective, microBatchCount(rows.length, accumulation), padding);
        const place = { epoch, step: step + 1, lr, rows: rows.length };
        const replaying = pending !== undefined && replayer?.replays(prepared.key) === true;
        // A replayed step whose numbers have no tensor for a recorded step after it to hold on is read first.
        if (!replaying && pending !== undefined && pending.numbers === undefined) {
          const at = await readPending();
          if (at !== undefined) return stopped(at);
        }
        let recorded: RecordedStep;
        // A step replayed holds on the one before as a recorded one does: only one overlapped is replayed.
        if (replaying) {
          optimizer.repeatStep(lr);
          const keys = logKeys;
          const replayed = replayer.replay(prepared.inputs);
          const values = replayed.values.then((numbers) => stepNumbers(numbers, keys));
          recorded = {
            ...place,
            ...(replayed.numbers === undefined ? {} : { numbers: replayed.numbers }),
            values,
            diagnostics: undefined,
          };
        } else {
          const record = () => {
            const { numbers, keys } = recordStep({
              model,
              optimizer,
              trained,
              prepared,
              learningRate: lr,
              maxGradNorm: options.maxGradNorm,
              rng: dropoutRng,
              hooks,
              ...(pending === undefined ? {} : { hold: pending.numbers }),
              ...(hooks.afterStep === undefined
                ? {}
                : { afterUpdate: (gradients) => hooks.afterStep!({ step: step + 1, totalSteps, gradients }) }),
            });
            logKeys = keys;
            // The read begins with the step: a replay of it reads its numbers the same way.
            return { numbers, values: readNumbers(numbers, keys) };
          };
          // A step recorded without one before it to hold on is not one a replay could stand for.
          const { numbers, values } =
            replayer === undefined
              ? record()
              : replayer.record(prepared.key, prepared.inputs, pending !== undefined, record);
          await hooks.settleStep?.();
          // The diagnostics' reads begin now, before the next step is recorded.
          recorded = { ...place, numbers, values, diagnostics: hooks.diagnostics?.() };
        }
        step += 1;
        // Where the read of the step before fails, this one is left unread: its own failure must not go unhandled
        // (awaiting the promise still throws).
        void recorded.values.catch(() => undefined);
        if (recorded.diagnostics instanceof Promise) void recorded.diagnostics.catch(() => undefined);
        if (pending !== undefined) overlapped += 1;
        const before = await readPending().catch(async (error: unknown) => {
          // The read of the step before failed (the device refused a command): this one is freed before the error
          // goes on (--grad-accum auto then retries the run in smaller micro-batches).
          await Promise.allSettled([recorded.values, recorded.diagnostics]);
          recorded.numbers?.dispose();
          throw error;
        });
        if (before !== undefined) {
          // This step was held (its AdamW kept the weights): read, so that nothing is left in flight.
          await recorded.values;
          await recorded.diagnostics;
          recorded.numbers?.dispose();
          return stopped(before);
        }
        if (overlapping) pending = recorded;
        else {
          const at = await read(recorded);
          if (at !== undefined) return stopped(at);
        }
      }
      const at = await readPending();
      if (at !== undefined) return stopped(at);
      epochLosses.push(lossSum / lossCount);
    }
  } finally {
    // A step left in flight by an error: freed unread.
    pending?.numbers?.dispose();
    replayer?.dispose();
    optimizer.dispose();
    memory.stop();
    gpuMemory?.stop();
  }
  return { steps: step, epochLosses, log, diverged: false, ...peaks(), overlapped, ...replayedCount() };
}

interface StepInputs {
  readonly model: Model;
  readonly optimizer: AdamW;
  readonly trained: ReadonlySet<Variable>;
  readonly prepared: PreparedStep;
  readonly learningRate: number;
  readonly maxGradNorm: number;
  readonly rng: Rng;
  readonly hooks: TrainingHooks;
  /** The step before's numbers, not yet read: AdamW keeps every weight if one of them is not finite. */
  readonly hold?: Tensor;
  /** The method's afterStep hook, with the step's clipped gradients. */
  readonly afterUpdate?: (gradients: ReadonlyMap<Variable, Tensor>) => void;
}

/** A step's micro-batches as the host makes them, before anything is recorded. */
interface PreparedStep {
  readonly objective: TrainingObjective;
  /** Whether the causal-LM loss runs at every position of its batches (`shapeFixedLoss`). */
  readonly shapeFixed: boolean;
  readonly chunks: readonly {
    readonly batch: PaddedBatch;
    readonly labels: readonly number[];
    readonly targets: Int32Array | undefined;
    /** The micro-batch's loss terms: examples, or counted target tokens. */
    readonly terms: number;
  }[];
  /** What decides the step's commands: the micro-batches' sizes, lengths and loss terms (none where shape-fixed). */
  readonly key: string;
  /** The host arrays the step's values are made from, in one order (engine/replay/step-values.ts). */
  readonly inputs: readonly object[];
}

/** The longest input the model's positions cover: where padding to a multiple stops. */
function positionLimit(model: Model): number {
  return model instanceof EncoderModel ? model.maxSequenceLength : model.config.maxPositionEmbeddings;
}

/** Each micro-batch padded once, with its labels, target mask and share of the batch's loss terms. */
function prepareStep(
  model: Model,
  rows: readonly EncodedExample[],
  objective: TrainingObjective,
  microBatches: number,
  padding: PaddingRule,
): PreparedStep {
  const shapeFixed = shapeFixedLoss(objective, padding);
  const split = splitRows(rows, microBatches).map((part) => {
    const batch = padInputs(part, model.config.padTokenId, padding);
    const targets = objective === 'classification' ? undefined : targetMask(batch, part);
    const terms =
      targets === undefined
        ? part.length
        : countedTargets(batch.batchSize, batch.length, batch.ids, batch.mask, targets).rows.length;
    return { batch, labels: part.map((row) => row.label), targets, terms };
  });
  // A micro-batch without a loss term (every row's target cut off) adds nothing, and its mean would be 0/0.
  const chunks = split.filter((chunk) => chunk.terms > 0);
  if (chunks.length === 0)
    throw new Error('A training batch has no target token to learn: every row lost its target to the length limit.');
  const key = chunks
    .map(
      ({ batch, terms }) =>
        `${batch.batchSize}x${batch.length}:${shapeFixed ? 'all' : terms}${batch.tokenTypeIds ? 't' : ''}`,
    )
    .join(' ');
  const inputs = chunks.flatMap(({ batch, labels, targets }) => [
    batch,
    batch.ids,
    batch.mask,
    ...(batch.tokenTypeIds === undefined ? [] : [batch.tokenTypeIds]),
    labels,
    ...(targets === undefined ? [] : [targets]),
  ]);
  return { objective, shapeFixed, chunks, key: `${objective} ${key}`, inputs };
}

/**
 * Whether a causal-LM step's loss runs at every position its batch could count (loss.ts's `shapeFixedCausalLmLoss`),
 * so that its commands depend on the batch's padded shape only: where the batches are padded to a multiple
 * (--pad-to-multiple-of), asked for to make few shapes. Otherwise at the counted targets only, each count a shape.
 */
function shapeFixedLoss(objective: TrainingObjective, padding: PaddingRule): boolean {
  return objective === 'causal-lm' && padding.multipleOf > 1;
}

/**
 * Each micro-batch's share of the step's counted targets, made from the step's batches (step-values.ts's `derived`),
 * where the step's commands must not hold them as numbers: a replay of the step makes each step's own.
 */
function termsShares(chunks: PreparedStep['chunks']): Float32Array {
  const sources = chunks.flatMap((chunk) => [chunk.batch, chunk.targets]);
  return derived(sources, (...made) => {
    const terms = chunks.map((_, i) => {
      const batch = made[2 * i] as PaddedBatch;
      const targets = made[2 * i + 1] as Int32Array | undefined;
      return countedTargets(batch.batchSize, batch.length, batch.ids, batch.mask, targets).rows.length;
    });
    const all = terms.reduce((sum, count) => sum + count, 0);
    return Float32Array.from(terms, (count) => count / all);
  });
}

/** Micro-batch `index`'s element of termsShares' shares, as a scalar tensor made from them (so from the batches). */
const shareTensor = (shares: Float32Array, index: number): Tensor =>
  tf.tensor(
    derived([shares], (made) => Float32Array.of(made[index]!)),
    [],
    'float32',
  );

/**
 * Records one optimiser step; returns its [total loss, task loss, gradient norm, the adapter's step log] on the device
 * (the regulariser, if any, is trained on but not reported as the loss) and the step log's keys. With micro-batches,
 * each one's loss is scaled by its share of the batch's loss terms and the gradients are summed.
 */
function recordStep(step: StepInputs): { numbers: Tensor; keys: readonly string[] } {
  const { model, optimizer } = step;
  const { chunks, objective } = step.prepared;
  const parameters = optimizer.parameters.filter((parameter) => step.trained.has(parameter));
  const allTerms = chunks.reduce((sum, chunk) => sum + chunk.terms, 0);
  // Counted once a step, for every micro-batch (where the loss is shape-fixed and the step has several).
  const shares = chunks.length > 1 && step.prepared.shapeFixed ? termsShares(chunks) : undefined;
  let taskLoss: Tensor | undefined;
  let totalLoss: Tensor | undefined;
  let summed: Tensor[] | undefined;
  // The weights change only after the last micro-batch: what they derive (DoRA's norms) is made once a step.
  const constants = new ForwardConstants();
  try {
    chunks.forEach(({ batch, labels, targets, terms }, index) => {
      const next = tf.tidy(() => {
        const share: number | Tensor =
          chunks.length === 1 ? 1 : shares !== undefined ? shareTensor(shares, index) : terms / allTerms;
        let task: Tensor | undefined;
        const { value, grads } = tf.variableGrads(() => {
          const context = { training: true, rng: step.rng, constants };
          const causalLoss = step.prepared.shapeFixed ? shapeFixedCausalLmLoss : causalLmLoss;
          const loss =
            objective === 'classification'
              ? classificationLoss(model.classify(batch, context), labels)
              : causalLoss(requireDecoder(model, 'Causal-LM training'), batch, context, targets);
          task = tf.keep(share === 1 ? loss : tf.mul(loss, share));
          const extra = step.hooks.regularizer?.();
          const total = extra === undefined ? loss : tf.add(loss, extra);
          return (share === 1 ? total : tf.mul(total, share)) as Scalar;
        }, parameters);
        // A parameter the loss does not reach (e.g. A under MonteCLoRA's detachPerturbedA) gets a zero gradient.
        const gradients = parameters.map(
          (parameter) => (grads[parameter.name] as Tensor | undefined) ?? tf.zerosLike(parameter),
        );
        // The running sums are given up to addEach, which on webgpu writes the new sums over them.
        const accumulated = summed === undefined ? gradients : addEach(summed, gradients);
        // The micro-batch's kept loss is folded into the running sum and released.
        const taskSum = taskLoss === undefined ? task! : tf.add(taskLoss, task!);
        if (taskSum !== task) task!.dispose();
        const totalSum = totalLoss === undefined ? value : tf.add(totalLoss, value);
        return { gradients: accumulated.map((g) => tf.keep(g)), task: tf.keep(taskSum), total: tf.keep(totalSum) };
      });
      summed?.forEach((g) => g.dispose());
      taskLoss?.dispose();
      totalLoss?.dispose();
      summed = next.gradients;
      taskLoss = next.task;
      totalLoss = next.total;
    });
  } finally {
    constants.dispose();
  }
  let norm: Tensor | undefined;
  tf.tidy(() => {
    const clip = globalNormClipping(summed!, step.maxGradNorm);
    norm = tf.keep(clip.norm);
    const byParameter = new Map(parameters.map((parameter, i) => [parameter, summed![i]!]));
    // AdamW reads the gradients where the norm joined them (clip.joined, on webgpu).
    optimizer.apply(
      optimizer.parameters.map((parameter) => byParameter.get(parameter)),
      step.learningRate,
      clip.coefficient,
      step.hold,
      clip.joined,
    );
    // Freed once the update is recorded, as the norm's joins were before AdamW read them (a copy of the gradients).
    clip.joined?.groups.forEach((group) => group.dispose());
    // The clipped gradients are formed only for a method that reads them (AdaLoRA's importance scores).
    const coefficient = clip.coefficient;
    step.afterUpdate?.(
      coefficient === undefined
        ? byParameter
        : new Map([...byParameter].map(([parameter, gradient]) => [parameter, tf.mul(gradient, coefficient)])),
    );
  });
  summed!.forEach((g) => g.dispose());
  // One tensor, one read: the adapter's step log with the loss (the log's tensor stays the adapter's).
  const stepLog = step.hooks.stepLog?.();
  const numbers = tf.tidy(() =>
    tf.concat([
      ...[totalLoss!, taskLoss!, norm!].map((t) => tf.reshape(t, [1])),
      ...(stepLog === undefined ? [] : [tf.reshape(stepLog.values, [-1])]),
    ]),
  );
  [totalLoss!, taskLoss!, norm!].forEach((t) => t.dispose());
  return { numbers, keys: stepLog?.keys ?? [] };
}

/** What a step's read gives the log: its task loss, gradient norm and the adapter's step log. */
interface StepNumbers {
  readonly loss: number;
  readonly gradNorm: number;
  readonly logged: Record<string, number>;
}

/** A step's numbers (recordStep's), read; the tensor stays the caller's. */
async function readNumbers(numbers: Tensor, keys: readonly string[]): Promise<StepNumbers> {
  return stepNumbers((await numbers.data()) as Float32Array, keys);
}

/** A step's numbers from its values [total loss, task loss, gradient norm, one per step-log key]. */
function stepNumbers(values: Float32Array, keys: readonly string[]): StepNumbers {
  const [totalValue, taskValue, gradNorm] = values;
  const logged = values.subarray(3);
  if (logged.length !== keys.length)
    throw new Error(`A step read ${logged.length} logged numbers where its log has ${keys.length} keys.`);
  // A diverged regulariser must stop training too, so a non-finite total is reported as such.
  return {
    loss: Number.isFinite(totalValue!) ? taskValue! : totalValue!,
    gradNorm: gradNorm!,
    logged: Object.fromEntries(keys.map((key, i) => [key, logged[i]!])),
  };
}
