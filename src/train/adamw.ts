/**
 * AdamW (Loshchilov & Hutter 2019) exactly as torch.optim.AdamW updates: decoupled decay p ← p·(1 − lr·λ), then
 * p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε). Each parameter group scales the learning rate by its multiplier.
 */
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor1D, type Variable } from '../engine/tf.js';
import { newVariable } from '../engine/variables.js';
import { ADAMW_UPDATE, adamwUpdateInvocation, type AdamWCoefficients } from '../engine/kernels/adamw-update.js';
import type { ParameterGroup } from '../peft/types.js';
import { hasKernel } from '../engine/kernels/has-kernel.js';

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  readonly weightDecay?: number;
  /** Use the one-kernel update where the backend has it (cpu, wasm); default true. Same values either way. */
  readonly fusedKernel?: boolean;
}

/** Parameters with fewer elements than this are updated on a concatenation with their peers. */
const FUSE_BELOW = 256;
/**
 * Elements updated per launch of the one-kernel update: it holds the new values of a launch's parameters in
 * JavaScript arrays until all are computed, so a full fine-tune's large matrices go one by one.
 */
const KERNEL_ELEMENTS = 1 << 18;

interface Slot {
  readonly parameter: Variable;
  readonly multiplier: number;
  readonly m: Variable;
  readonly v: Variable;
  /** Updates this parameter has had: torch counts per parameter, and skips one that has no gradient. */
  steps: number;
}

export class AdamW {
  private readonly slots: Slot[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  private readonly fusedKernel: boolean;

  constructor(groups: readonly ParameterGroup[], options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.fusedKernel = options.fusedKernel ?? true;
    this.slots = groups.flatMap((group) =>
      group.variables.map((parameter) => ({
        parameter,
        multiplier: group.learningRateMultiplier,
        m: newVariable(() => tf.zerosLike(parameter), false),
        v: newVariable(() => tf.zerosLike(parameter), false),
        steps: 0,
      })),
    );
  }

  get parameters(): Variable[] {
    return this.slots.map((slot) => slot.parameter);
  }

  /**
   * One update with `gradients[i]` the gradient of `parameters[i]`, times `gradientScale` when given (a one-value
   * tensor: gradient clipping's coefficient, which the one-kernel update applies as it reads each gradient); a
   * parameter whose gradient is undefined is left as it is (no decay, no moment update), as torch does for a parameter
   * without a gradient.
   *
   * On cpu, wasm and webgpu one kernel updates the parameters (engine/kernels/adamw-update.ts, and webgpu/ for its
   * shaders), a few hundred thousand values per launch. Elsewhere (tfjs-node) the update is fourteen tfjs ops, and tiny
   * parameters (MonteCLoRA's priors, norms, a classification head) that share a learning rate and step count are
   * updated together, on their concatenation: the update is elementwise, so every value is the same as updating each
   * alone, but ~20 kernel launches replace ~14 per parameter. Larger ones are updated alone: splitting the result back
   * costs more than the launches it saves (measured on tfjs-wasm: stories260K's 70 LoRA matrices 3.1 ms alone, 11.5 ms
   * concatenated).
   */
  apply(gradients: readonly (Tensor | undefined)[], learningRate: number, gradientScale?: Tensor): void {
    const groups = new Map<string, { slots: Slot[]; gradients: Tensor[] }>();
    const updates: { slots: Slot[]; gradients: Tensor[] }[] = [];
    const kernel = this.fusedKernel && hasKernel(ADAMW_UPDATE);
    const launch: { slot: Slot; gradient: Tensor }[] = [];
    let launchSize = 0;
    const flush = () => {
      if (launch.length > 0) this.updateByKernel(launch.splice(0), learningRate, gradientScale);
      launchSize = 0;
    };
    this.slots.forEach((slot, i) => {
      const gradient = gradients[i];
      if (gradient === undefined) return;
      slot.steps += 1;
      if (kernel) {
        if (launchSize > 0 && launchSize + slot.parameter.size > KERNEL_ELEMENTS) flush();
        launch.push({ slot, gradient });
        launchSize += slot.parameter.size;
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

  private updateByKernel(
    updates: readonly { slot: Slot; gradient: Tensor }[],
    learningRate: number,
    gradientScale: Tensor | undefined,
  ): void {
    const { inputs, attrs } = adamwUpdateInvocation(
      updates.map(({ slot, gradient }) => ({
        p: slot.parameter,
        g: gradient,
        m: slot.m,
        v: slot.v,
        coefficients: this.coefficients(slot, learningRate),
      })),
      gradientScale,
    );
    const outputs = tf
      .engine()
      .runKernel(ADAMW_UPDATE, inputs as NamedTensorMap, attrs as unknown as NamedAttrMap) as Tensor[];
    // The kernel rewrote m and v in place; assign takes over each new parameter's buffer and disposes the old one.
    updates.forEach(({ slot }, i) => slot.parameter.assign(outputs[i]!));
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
    this.slots.forEach((slot) => {
      slot.m.dispose();
      slot.v.dispose();
    });
  }
}
