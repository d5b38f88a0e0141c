/** The one interface every PEFT method implements, so the trainer and the sweep never branch on the method. */
import type { Scalar, Tensor, Variable } from '../engine/tf.js';
import type { Rng } from '../engine/rng.js';
import type { Model } from '../models/model.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';

/** Variables the optimiser trains together, with a learning-rate multiplier (LoRA+ trains B faster than A). */
export interface ParameterGroup {
  readonly name: string;
  readonly variables: readonly Variable[];
  readonly learningRateMultiplier: number;
  /** Whether the group trains in a given epoch (0-based); every epoch when absent (MonteCLoRA's post-hoc mode). */
  trainsInEpoch?(epoch: number): boolean;
}

/** What the trainer tells an adapter after each optimiser update. */
export interface StepUpdate {
  /** Updates done so far, this one included (1-based). */
  readonly step: number;
  readonly totalSteps: number;
  /** The clipped gradient of every variable trained in this step (released after the call). */
  readonly gradients: ReadonlyMap<Variable, Tensor>;
}

/** A step's logged numbers on the device: `values` holds one per key, in order. */
export interface StepLogValues {
  readonly keys: readonly string[];
  readonly values: Tensor;
}

/** The parts of an adapter the training loop calls. */
export interface TrainingHooks {
  /**
   * The adapter's own loss term for the forward pass just run (MonteCLoRA's KL and cooperative losses, AdaLoRA's
   * orthogonality regulariser), added to the task loss inside the same gradient tape; undefined when it has none.
   */
  regularizer?(): Scalar | undefined;
  /** Numbers describing the training step just taken, for the run's log (read after the step). */
  diagnostics?(): Record<string, number> | Promise<Record<string, number>>;
  /**
   * Numbers describing the training step just recorded, still on the device (MonteCLoRA's KL terms): read with the
   * step's loss in one read, so that a replayed step (engine/replay/) logs them too. The tensor stays the adapter's.
   */
  stepLog?(): StepLogValues | undefined;
  /**
   * Whether every host value the regulariser gives a step (MonteCLoRA's noise) is made through
   * engine/replay/step-values.ts, so that a replayed step makes it again and its generator advances as the step's
   * would: a run with a regulariser that does not say so records every step.
   */
  readonly stepValuesNoted?: boolean;
  /** Called before each epoch (0-based), e.g. to switch sampling on in MonteCLoRA's post-hoc phase. */
  beginEpoch?(epoch: number): void;
  /**
   * Called before each optimiser step, for host values the step's forward passes need (MonteCLoRA's exact-Dirichlet
   * sampler reads its concentrations): awaited, so it also runs on backends without synchronous reads (WebGPU).
   */
  prepareStep?(): Promise<void>;
  /** Called after each optimiser update (AdaLoRA's importance scores and rank budget). */
  afterStep?(update: StepUpdate): void;
  /**
   * Called once the step's tensors are released, for work that reads tensors back (AdaLoRA's pruning): awaited, so
   * it also runs on backends without synchronous reads (WebGPU).
   */
  settleStep?(): Promise<void>;
}

/** An adapter injected into a model: what to train, what to report, and how to take it out again. */
export interface AppliedAdapter extends TrainingHooks {
  readonly method: string;
  readonly groups: readonly ParameterGroup[];
  /** Flat hyperparameters, one CSV column each. */
  readonly hyperparameters: Readonly<Record<string, string | number | boolean>>;
  /** Variables its saved files hold that no group trains (MonteCLoRA's frozen priors, its random prior α⁰). */
  readonly untrained?: readonly Variable[];
  /** Removes the adapter from the model and frees its tensors. */
  dispose(): void;
}

export interface AdapterMethod<Config> {
  readonly name: string;
  readonly description: string;
  /** Validates the `adapter` section of a preset; `source` names the file in error messages. */
  parseConfig(raw: unknown, source: string): Config;
  /** `tokenizer` is the model's, for methods initialised from text (prompt tuning's text init). */
  apply(model: Model, config: Config, rng: Rng, tokenizer?: TextTokenizer): AppliedAdapter;
  /** True for the baseline that trains nothing (`--adapter none`): one run per task, evaluated as loaded. */
  readonly evaluatesOnly?: boolean;
}

/**
 * A classifier's head as a trained group: it trains beside every method's adapter, as PEFT's modules_to_save does for
 * sequence classification.
 */
export function classificationHeadGroup(model: Model): ParameterGroup {
  return { name: 'head', variables: model.headVariables(), learningRateMultiplier: 1 };
}

/** Every variable an adapter's saved files hold: its groups' (and `extra` groups', a task head's) and its untrained ones. */
export function savedVariables(adapter: AppliedAdapter, extra: readonly ParameterGroup[] = []): Variable[] {
  return [...[...adapter.groups, ...extra].flatMap((group) => group.variables), ...(adapter.untrained ?? [])];
}

export function countParameters(groups: readonly ParameterGroup[]): number {
  return groups.reduce((total, group) => total + group.variables.reduce((n, v) => n + v.size, 0), 0);
}
