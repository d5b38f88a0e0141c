/**
 * The LoRA update of one linear layer (Hu et al. 2021): y = W₀x + (α/r)·B·A·dropout(x), with A Kaiming-uniform
 * (PEFT's kaiming_uniform_(a=√5), i.e. U(±1/√in)) and B zero, so the adapted layer starts equal to the base layer.
 * A is stored [in, r] and B [r, out] (PEFT's lora_A / lora_B transposed) for transpose-free products.
 */
import { tf, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { linear } from '../../engine/ops/linear.js';
import { newVariable } from '../../engine/variables.js';
import { dropout, drawDropout } from '../../engine/ops/dropout.js';
import type { LowRankUpdate } from '../../engine/ops/low-rank-linear.js';
import type { Rng } from '../../engine/rng.js';
import type { ForwardContext } from '../../models/forward-context.js';
import type { Linear, LinearAdapter } from '../../models/layers/linear.js';
import type { LoraConfig } from './config.js';

export class LoraLayer implements LinearAdapter {
  readonly loraA: Variable;
  readonly loraB: Variable;
  readonly scaling: number;

  constructor(
    inFeatures: number,
    outFeatures: number,
    protected readonly config: LoraConfig,
    rng: Rng,
  ) {
    const bound = 1 / Math.sqrt(inFeatures);
    const initialA = rng.uniformArray(inFeatures * config.r, -bound, bound);
    this.loraA = newVariable(() => tf.tensor(initialA, [inFeatures, config.r]), true);
    this.loraB = newVariable(() => tf.zeros([config.r, outFeatures]), true);
    this.scaling = config.useRslora ? config.alpha / Math.sqrt(config.r) : config.alpha / config.r;
  }

  /** The low-rank update (α/r)·B·A·x alone. */
  delta(x: Tensor, context: ForwardContext): Tensor {
    const input = context.training ? dropout(x, this.config.dropout, context.rng) : x;
    return tf.mul(this.lowRankProduct(input, context), this.scaling);
  }

  /** B·A·input, unscaled, on an input already dropped out. */
  protected lowRankProduct(input: Tensor, context: ForwardContext): Tensor {
    return linear(linear(input, this.downProjection(context)), this.loraB as unknown as Tensor2D);
  }

  /**
   * The A of this forward pass ([in, r]) as A itself and a perturbation to add to it: variants such as MonteCLoRA
   * perturb A in training. The fused layer adds the two inside its own op (no taped add, no saved operands).
   */
  protected downFactors(_context: ForwardContext): { a: Tensor2D; perturbation?: Tensor2D } {
    return { a: this.loraA as unknown as Tensor2D };
  }

  /** The A used by this forward pass: downFactors' sum. */
  protected downProjection(context: ForwardContext): Tensor2D {
    const { a, perturbation } = this.downFactors(context);
    return perturbation === undefined ? a : (tf.add(a, perturbation) as Tensor2D);
  }

  forward(x: Tensor, baseOutput: Tensor, context: ForwardContext): Tensor {
    return tf.add(baseOutput, this.delta(x, context));
  }

  /**
   * This pass's update for the fused op (engine/ops/low-rank-linear.ts): the same values as `forward`, with fewer
   * activations kept for the backward pass. Only over a frozen base; DoRA adds its column scale, and declines it under
   * dropout (its own forward then).
   */
  lowRankUpdate(x: Tensor, base: Linear, context: ForwardContext): LowRankUpdate | undefined {
    if (base.weight.trainable || base.bias?.trainable) return undefined;
    // The mask itself is made where the op reads it (inside its kernels on webgpu), from the drawn key.
    const drawn = context.training ? drawDropout(this.config.dropout, context.rng) : undefined;
    const { a, perturbation } = this.downFactors(context);
    return {
      a,
      b: this.loraB as unknown as Tensor2D,
      scaling: this.scaling,
      ...(drawn === undefined ? {} : { dropout: drawn }),
      ...(perturbation === undefined ? {} : { perturbation }),
    };
  }

  variables(): Variable[] {
    return [this.loraA, this.loraB];
  }
}
