/**
 * AdamW (Loshchilov & Hutter 2019) exactly as torch.optim.AdamW updates: decoupled decay p ← p·(1 − lr·λ), then
 * p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε). Each parameter group scales the learning rate by its multiplier.
 */
import { tf, type Tensor, type Tensor1D, type Variable } from '../engine/tf.js';
import { newVariable } from '../engine/variables.js';
import type { ParameterGroup } from '../peft/types.js';

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  readonly weightDecay?: number;
}

/** Parameters with fewer elements than this are updated on a concatenation with their peers. */
const FUSE_BELOW = 256;

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

  constructor(groups: readonly ParameterGroup[], options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
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
   * One update with `gradients[i]` the gradient of `parameters[i]`; a parameter whose gradient is undefined is left
   * as it is (no decay, no moment update), as torch does for a parameter without a gradient.
   *
   * Tiny parameters (MonteCLoRA's priors, norms, a classification head) that share a learning rate and step count are
   * updated together, on their concatenation: the update is elementwise, so every value is the same as updating each
   * alone, but ~20 kernel launches replace ~14 per parameter. Measured on tfjs-wasm (optimiser step alone): MonteCLoRA
   * on builtin:tiny 2.7 → 1.6 ms. Larger ones (LoRA's A and B and up) are updated alone: splitting the result back
   * costs ~50 µs a piece there, more than the launches it saves (stories260K's 70 LoRA matrices: 3.1 ms alone,
   * 11.5 ms concatenated).
   */
  apply(gradients: readonly (Tensor | undefined)[], learningRate: number): void {
    const groups = new Map<string, { slots: Slot[]; gradients: Tensor[] }>();
    const updates: { slots: Slot[]; gradients: Tensor[] }[] = [];
    this.slots.forEach((slot, i) => {
      const gradient = gradients[i];
      if (gradient === undefined) return;
      slot.steps += 1;
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
    tf.tidy(() =>
      [...updates, ...groups.values()].forEach((group) => this.update(group.slots, group.gradients, learningRate)),
    );
  }

  /** The AdamW update of parameters with the same learning rate and step count, on their flattened concatenation. */
  private update(slots: readonly Slot[], gradients: readonly Tensor[], learningRate: number): void {
    const { steps, multiplier } = slots[0]!;
    // Vectors are concatenated as they are (a reshape is a kernel launch too).
    const flat = (tensors: readonly Tensor[]) =>
      tensors.length === 1 ? tensors[0]! : tf.concat(tensors.map((t) => (t.rank === 1 ? t : tf.reshape(t, [-1]))));
    const gradient = flat(gradients);
    const correction1 = 1 - Math.pow(this.beta1, steps);
    const correction2 = Math.sqrt(1 - Math.pow(this.beta2, steps));
    const lr = learningRate * multiplier;
    const m = tf.add(tf.mul(flat(slots.map((s) => s.m)), this.beta1), tf.mul(gradient, 1 - this.beta1));
    const v = tf.add(tf.mul(flat(slots.map((s) => s.v)), this.beta2), tf.mul(tf.square(gradient), 1 - this.beta2));
    const denominator = tf.add(tf.div(tf.sqrt(v), correction2), this.epsilon);
    const decayed = tf.mul(flat(slots.map((s) => s.parameter)), 1 - lr * this.weightDecay);
    const parameter = tf.sub(decayed, tf.mul(tf.div(m, denominator), lr / correction1));
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
