/**
 * fineTune's own steps, timed: LoRA (r 8 on every linear layer, without dropout or with the presets' 0.05) or
 * MonteCLoRA (r 8 on every linear layer) on a target model over batches of `length` random tokens (every token a
 * target: causal-LM on a decoder, a label per row on an encoder), one epoch of `WARM + steps` steps, with every step
 * recorded (MCEVAL_WEBGPU_REPLAY=off) or replayed once recorded and checked (`on`). A step's time is the time between
 * two steps' reads (fineTune's onStep), the middle of the last `steps` (where replayed, the replays'), and the main
 * thread's CPU time over the same (what the host spends on a step). What a user's run gets on the card, where the kit's
 * other steps time one step alone. `timedEpoch` is that epoch over rows of any lengths, its batches shaped as a
 * preset's (variable-lengths.ts).
 */
import { Rng } from '../../src/engine/rng.js';
import { tf } from '../../src/engine/tf.js';
import type { Model } from '../../src/models/model.js';
import { EncoderModel } from '../../src/models/encoder/model.js';
import { classificationHeadGroup } from '../../src/peft/types.js';
import { fineTune } from '../../src/train/fine-tune.js';
import { middleTime } from '../options.js';
import { applyStepAdapter } from './step-methods.js';
import { threadCpuMs } from './thread-clock.js';
import { withEnv } from '../../test/with-env.js';

/** The methods whose fineTune steps the kit times. */
export type TrainerMethod = 'lora' | 'lora-dropout' | 'monteclora';

/** Steps before the timed ones: the first (held on nothing), six captured and checked, one more. */
const WARM = 8;

export interface TrainerSteps {
  readonly msPerStep: number;
  /** The main thread's CPU time between two reads, the middle of the same steps (Linux; else undefined). */
  readonly cpuMsPerStep: number | undefined;
  /** The steps' task losses, in order. */
  readonly losses: number[];
  readonly replayed: number;
}

/** One epoch of `method` on `model` (its adapter applied and removed here) with replays `setting`. */
export async function trainerSteps(
  model: Model,
  batch: number,
  length: number,
  method: TrainerMethod,
  steps: number,
  setting: 'on' | 'off',
): Promise<TrainerSteps> {
  const run = await timedEpoch(model, new Array<number>(batch * (WARM + steps)).fill(length), batch, method, setting);
  return {
    msPerStep: middleTime(run.intervals.slice(-steps)),
    cpuMsPerStep: run.cpuIntervals === undefined ? undefined : middleTime(run.cpuIntervals.slice(-steps)),
    losses: run.losses,
    replayed: run.replayed,
  };
}

/** Whether two runs logged the same losses, bit for bit. */
export function sameLosses(run: { readonly losses: readonly number[] }, other: { readonly losses: readonly number[] }) {
  return run.losses.length === other.losses.length && run.losses.every((loss, i) => Object.is(loss, other.losses[i]));
}

/** How a run's batches are shaped (the presets' padToMultipleOf and groupByLength). */
export interface BatchShaping {
  readonly padToMultipleOf?: number;
  readonly groupByLength?: boolean;
}

/** An epoch's steps timed: between two steps' reads, wall and main-thread CPU time, from the second step's read on. */
export interface TimedEpoch {
  readonly intervals: readonly number[];
  readonly cpuIntervals: readonly number[] | undefined;
  readonly losses: number[];
  readonly replayed: number;
}

/**
 * One epoch of `method` on `model` over rows of random tokens of `lengths` (every token a target on a decoder, a
 * label per row on an encoder) in batches of `batch`, shaped as `shaping` says, with replays `setting`.
 */
export async function timedEpoch(
  model: Model,
  lengths: readonly number[],
  batch: number,
  method: TrainerMethod,
  setting: 'on' | 'off',
  shaping: BatchShaping = {},
): Promise<TimedEpoch> {
  const rng = new Rng(13);
  const encoder = model instanceof EncoderModel;
  const examples = lengths.map((length, i) => ({
    ids: Array.from({ length }, () => 1 + rng.integer(model.config.vocabSize - 1)),
    label: i % 2,
  }));
  const adapter = applyStepAdapter(model, method, new Rng(11));
  // An encoder's head trains too: it is put back afterwards, so that each run starts from the same weights.
  const head = model.headVariables().map((variable) => ({ variable, initial: tf.clone(variable) }));
  const read: number[] = [];
  const cpu: (number | undefined)[] = [];
  try {
    const result = await withEnv('MCEVAL_WEBGPU_REPLAY', setting, () =>
      fineTune({
        model,
        groups: encoder ? [...adapter.groups, classificationHeadGroup(model)] : adapter.groups,
        examples,
        learningRate: 1e-4,
        batchSize: batch,
        epochs: 1,
        weightDecay: 0,
        warmupRatio: 0,
        maxGradNorm: 1,
        rng: new Rng(12),
        hooks: adapter,
        objective: encoder ? 'classification' : 'causal-lm',
        ...shaping,
        onStep: () => {
          read.push(performance.now());
          cpu.push(threadCpuMs?.());
        },
      }),
    );
    const intervals = (times: readonly number[]) => times.slice(1).map((at, i) => at - times[i]!);
    return {
      intervals: intervals(read),
      cpuIntervals: cpu.every((at) => at !== undefined) ? intervals(cpu as number[]) : undefined,
      losses: result.log.map((entry) => entry.loss),
      replayed: result.replayed ?? 0,
    };
  } finally {
    adapter.dispose();
    head.forEach(({ variable, initial }) => {
      variable.assign(initial);
      initial.dispose();
    });
  }
}
