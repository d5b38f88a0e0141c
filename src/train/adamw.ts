/**
 * AdamW (Loshchilov & Hutter 2019) exactly as torch.optim.AdamW updates: decoupled decay p ← p·(1 − lr·λ), then
 * p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε). Each parameter group scales the learning rate by its multiplier.
 */
import { tf, type Tensor, type Variable } from '../engine/tf.js';
import { newVariable } from '../engine/variables.js';
import type { ParameterGroup } from '../peft/types.js';

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  readonly weightDecay?: number;
}

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
   */
  apply(gradients: readonly (Tensor | undefined)[], learningRate: number): void {
    tf.tidy(() => {
      this.slots.forEach((slot, i) => {
        const gradient = gradients[i];
        if (gradient === undefined) return;
        slot.steps += 1;
        const correction1 = 1 - Math.pow(this.beta1, slot.steps);
        const correction2 = Math.sqrt(1 - Math.pow(this.beta2, slot.steps));
        const lr = learningRate * slot.multiplier;
        slot.m.assign(tf.add(tf.mul(slot.m, this.beta1), tf.mul(gradient, 1 - this.beta1)));
        slot.v.assign(tf.add(tf.mul(slot.v, this.beta2), tf.mul(tf.square(gradient), 1 - this.beta2)));
        const denominator = tf.add(tf.div(tf.sqrt(slot.v), correction2), this.epsilon);
        const decayed = tf.mul(slot.parameter, 1 - lr * this.weightDecay);
        slot.parameter.assign(tf.sub(decayed, tf.mul(tf.div(slot.m, denominator), lr / correction1)));
      });
    });
  }

  dispose(): void {
    this.slots.forEach((slot) => {
      slot.m.dispose();
      slot.v.dispose();
    });
  }
}
