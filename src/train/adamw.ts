/**
 * AdamW (Loshchilov & Hutter 2019) exactly as torch.optim.AdamW updates: decoupled decay p ← p·(1 − lr·λ), then p ← p −
 * (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε). Each parameter group scales the learning rate by its multiplier.
 */
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor1D, type Variable } from '../engine/tf.js';
import { newVariable } from '../engine/variables.js';
import { ADAMW_UPDATE, adamwUpdateInvocation, type AdamWCoefficients } from '../engine/kernels/adamw-update.js';
import type { ParameterGroup } from '../peft/types.js';
import { hasKernel } from '../engine/kernels/has-kernel.js';
import { drawnValue } from '../engine/replay/step-values.js';
import { storageBindingBytes, type WebGpuBackendLike } from '../engine/kernels/webgpu/shader.js';
import type { JoinedTensors } from '../engine/ops/squared-norm.js';

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  readonly weightDecay?: number;
  /** Use the one-kernel update where the backend has it (cpu, wasm, webgpu); default true. Same values either way. */
  readonly fusedKernel?: boolean;
  /**
   * The most values one bank of the one-kernel update's moments holds; by default what one GPU shader may bind as a
   * buffer (2²⁷ on cpu and wasm). A parameter larger than this has a bank of its own.
   */
  readonly momentBankElements?: number;
}

/** Parameters with fewer elements than this are updated on a concatenation with their peers (tfjs ops). */
const FUSE_BELOW = 256;
/**
 * The most values one moment bank holds on cpu and wasm (1 GiB for m and v together); a GPU's is what one shader may
 * bind as a buffer.
 */
const HOST_BANK_ELEMENTS = 1 << 27;

interface Slot {
  readonly parameter: Variable;
  readonly multiplier: number;
  /**
   * Its moments: for the one-kernel update a bank's, shared with the parameters before and after it, from `offset`
   * on; for the tfjs ops its own (offset 0).
   */
  readonly m: Variable;
  readonly v: Variable;
  readonly offset: number;
  /** Updates this parameter has had: torch counts per parameter, and skips one that has no gradient. */
  steps: number;
}

/** The most values one moment bank may hold on the current backend. */
function bankElements(): number {
  if (tf.getBackend() !== 'webgpu') return HOST_BANK_ELEMENTS;
  return Math.floor(storageBindingBytes(tf.backend() as unknown as WebGpuBackendLike) / 4);
}

/**
 * Slots for the one-kernel update: the parameters in order, their moments in banks (flat, zeros) each filled up to
 * `limit` values before the next begins (a parameter larger than the limit gets a bank of its own).
 */
function bankedSlots(parameters: readonly { parameter: Variable; multiplier: number }[], limit: number): Slot[] {
  const banks: { size: number }[] = [];
  const placed = parameters.map(({ parameter }) => {
    const bank = banks[banks.length - 1];
    if (bank === undefined || (bank.size > 0 && bank.size + parameter.size > limit)) banks.push({ size: 0 });
    const last = banks[banks.length - 1]!;
    const offset = last.size;
    last.size += parameter.size;
    return { bank: banks.length - 1, offset };
  });
  const moments = banks.map(({ size }) => ({
    m: newVariable(() => tf.zeros([size]), false),
    v: newVariable(() => tf.zeros([size]), false),
  }));
  return parameters.map(({ parameter, multiplier }, i) => ({
    parameter,
    multiplier,
    ...moments[placed[i]!.bank]!,
    offset: placed[i]!.offset,
    steps: 0,
  }));
}

export class AdamW {
  private readonly slots: Slot[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  /** Whether the one-kernel update runs (fixed at construction: it decides how the moments are held). */
  private readonly kernel: boolean;
  /** The slots the last update stepped, and its learning rate: what a replayed step repeats (`repeatStep`). */
  private stepped: Slot[] = [];
  private learningRate = 0;

  constructor(groups: readonly ParameterGroup[], options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.kernel = (options.fusedKernel ?? true) && hasKernel(ADAMW_UPDATE);
    const parameters = groups.flatMap((group) =>
      group.variables.map((parameter) => ({ parameter, multiplier: group.learningRateMultiplier })),
    );
    this.slots = this.kernel
      ? bankedSlots(parameters, options.momentBankElements ?? bankElements())
      : parameters.map(({ parameter, multiplier }) => ({
          parameter,
          multiplier,
          m: newVariable(() => tf.zerosLike(parameter), false),
          v: newVariable(() => tf.zerosLike(parameter), false),
          offset: 0,
          steps: 0,
        }));
  }

  /** Whether `apply` takes a `hold` (the one-kernel update). */
  get holdsUpdates(): boolean {
    return this.kernel;
  }

  get parameters(): Variable[] {
    return this.slots.map((slot) => slot.parameter);
  }

  /**
   * One update with `gradients[i]` the gradient of `parameters[i]`, times `gradientScale` when given (a one-value
   * tensor: gradient clipping's coefficient, which the one-kernel update applies as it reads each gradient); a
   * parameter whose gradient is undefined is left as it is (no decay, no moment update), as torch does for a parameter
   * without a gradient. With `hold` (the step before's numbers on the device, its total loss, task loss and gradient
   * norm first; the one-kernel update only) nothing changes where one of those three is not finite: that step diverged,
   * and the run keeps its weights (fine-tune.ts records a step before reading the one before it).
   *
   * On cpu, wasm and webgpu one kernel updates the parameters (engine/kernels/adamw-update.ts, and webgpu/ for its
   * shaders), one launch per moment bank. Elsewhere (tfjs-node) the update is fourteen tfjs ops, and tiny
   * parameters (MonteCLoRA's priors, norms, a classification head) that share a learning rate and step count are
   * updated together, on their concatenation: the update is elementwise, so every value is the same as updating each
   * alone, but ~20 kernel launches replace ~14 per parameter. Larger ones are updated alone: splitting the result back
   * costs more than the launches it saves (measured on tfjs-wasm: stories260K's 70 LoRA matrices 3.1 ms alone, 11.5 ms
   * concatenated).
   *
   * `joined` (the global norm's joins of these gradients, train/clip.ts) lets the webgpu kernel read each gradient
   * where the norm joined it, rather than copy the gradients into joins of its own: no copies a step for an adapter.
   */
  apply(
    gradients: readonly (Tensor | undefined)[],
    learningRate: number,
    gradientScale?: Tensor,
    hold?: Tensor,
    joined?: JoinedTensors,
  ): void {
    // Only the one-kernel update holds (fineTune overlaps steps only where it runs).
    if (hold !== undefined && !this.kernel) throw new Error('AdamW: a held update needs the one-kernel update');
    const groups = new Map<string, { slots: Slot[]; gradients: Tensor[] }>();
    const updates: { slots: Slot[]; gradients: Tensor[] }[] = [];
    const launch: { slot: Slot; gradient: Tensor }[] = [];
    const flush = () => {
      if (launch.length > 0) this.updateByKernel(launch.splice(0), gradientScale, hold, joined);
    };
    this.learningRate = learningRate;
    this.stepped = [];
    this.slots.forEach((slot, i) => {
      const gradient = gradients[i];
      if (gradient === undefined) return;
      slot.steps += 1;
      this.stepped.push(slot);
      if (this.kernel) {
        if (launch.length > 0 && launch[0]!.slot.m !== slot.m) flush();
        launch.push({ slot, gradient });
        return;
      }
      if (slot.parameter.size >= FUSE_BELOW) {
        updates.push({ slots: [slot], gradients: [gradient] });
        return;
      }
      const key = `${slot.multiplier}/${slot.steps}`;
      const group = groups.get(key) ?? { slots: [], gradients: [] };
      group.slots.push(slot);
      group.gradients.push(gradient);
      groups.set(key, group);
    });
    flush();
    tf.tidy(() =>
      [...updates, ...groups.values()].forEach((group) => {
        const scaled =
          gradientScale === undefined ? group.gradients : group.gradients.map((g) => tf.mul(g, gradientScale));
        this.update(group.slots, scaled, learningRate);
      }),
    );
  }

  private coefficients(slot: Slot, learningRate: number): AdamWCoefficients {
    const lr = learningRate * slot.multiplier;
    return {
      beta1: this.beta1,
      beta2: this.beta2,
      correction2: Math.sqrt(1 - Math.pow(this.beta2, slot.steps)),
      epsilon: this.epsilon,
      decay: 1 - lr * this.weightDecay,
      stepSize: lr / (1 - Math.pow(this.beta1, slot.steps)),
    };
  }

  /**
   * The optimizer's side of a step replayed rather than recorded (fine-tune.ts): the parameters the last update stepped
   * count one more step, at `learningRate`. The replay makes their coefficients as the update made its own.
   */
  repeatStep(learningRate: number): void {
    this.learningRate = learningRate;
    this.stepped.forEach((slot) => (slot.steps += 1));
  }

  private updateByKernel(
    updates: readonly { slot: Slot; gradient: Tensor }[],
    gradientScale: Tensor | undefined,
    hold: Tensor | undefined,
    joined: JoinedTensors | undefined,
  ): void {
    const { m, v } = updates[0]!.slot;
    const joinOf = (gradient: Tensor) => {
      const place = joined?.placeOf(gradient);
      return place === undefined ? {} : { joined: { values: joined!.groups[place.group]!, at: place.at } };
    };
    const { inputs, attrs } = adamwUpdateInvocation(
      updates.map(({ slot, gradient }) => ({
        p: slot.parameter,
        g: gradient,
        ...joinOf(gradient),
        offset: slot.offset,
        // Those that change between steps, drawn again by a replayed step (engine/replay/step-values.ts).
        coefficients: drawnValue(
          () => this.coefficients(slot, this.learningRate),
          (c) => new Uint8Array(Float32Array.of(c.correction2, c.decay, c.stepSize).buffer),
        ),
      })),
      { m, v },
      { ...(gradientScale === undefined ? {} : { scale: gradientScale }), ...(hold === undefined ? {} : { hold }) },
    );
    const outputs = tf
      .engine()
      .runKernel(ADAMW_UPDATE, inputs as NamedTensorMap, attrs as unknown as NamedAttrMap) as Tensor[];
    // The kernel rewrote the banks in place. A new parameter buffer is taken over by assign, which disposes the old
    // one; a parameter rewritten in place (webgpu) came back as itself.
    updates.forEach(({ slot }, i) => {
      if (outputs[i]!.dataId !== slot.parameter.dataId) slot.parameter.assign(outputs[i]!);
    });
    outputs.forEach((t) => t.dispose());
  }

  /** The AdamW update of parameters with the same learning rate and step count, on their flattened concatenation. */
  private update(slots: readonly Slot[], gradients: readonly Tensor[], learningRate: number): void {
    const c = this.coefficients(slots[0]!, learningRate);
    // Vectors are concatenated as they are (a reshape is a kernel launch too).
    const flat = (tensors: readonly Tensor[]) =>
      tensors.length === 1 ? tensors[0]! : tf.concat(tensors.map((t) => (t.rank === 1 ? t : tf.reshape(t, [-1]))));
    const gradient = flat(gradients);
    const m = tf.add(tf.mul(flat(slots.map((s) => s.m)), c.beta1), tf.mul(gradient, 1 - c.beta1));
    const v = tf.add(tf.mul(flat(slots.map((s) => s.v)), c.beta2), tf.mul(tf.square(gradient), 1 - c.beta2));
    const denominator = tf.add(tf.div(tf.sqrt(v), c.correction2), c.epsilon);
    const decayed = tf.mul(flat(slots.map((s) => s.parameter)), c.decay);
    const parameter = tf.sub(decayed, tf.mul(tf.div(m, denominator), c.stepSize));
    const assign = (target: (slot: Slot) => Variable, values: Tensor) => {
      if (slots.length === 1) return target(slots[0]!).assign(values);
      const parts = tf.split(
        values as Tensor1D,
        slots.map((slot) => slot.parameter.size),
      );
      slots.forEach((slot, i) => {
        const part = parts[i]!;
        target(slot).assign(slot.parameter.rank === 1 ? part : tf.reshape(part, slot.parameter.shape));
      });
    };
    assign((slot) => slot.m, m);
    assign((slot) => slot.v, v);
    assign((slot) => slot.parameter, parameter);
  }

  dispose(): void {
    new Set(this.slots.flatMap((slot) => [slot.m, slot.v])).forEach((moment) => moment.dispose());
  }
}
