/**
 * DoRA (Liu et al. 2024) as PEFT implements it: the adapted weight W' = W₀ + s·ΔW is split into a learned magnitude
 * m (one per output, initialised to ‖W₀‖ per output) and its direction, y = m ⊙ (W' x) / ‖W'‖. The norm is detached,
 * as in the paper's §4.3 and PEFT. With b the bias: y = W₀x + b + (m/‖W'‖ − 1) ⊙ W₀x + (m/‖W'‖) ⊙ s·ΔW x.
 */
import { tf, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { newVariable } from '../../engine/variables.js';
import { frozenLinear } from '../../engine/ops/linear.js';
import { stopGradient } from '../../engine/ops/stop-gradient.js';
import { dropout } from '../../engine/ops/dropout.js';
import type { Rng } from '../../engine/rng.js';
import type { ForwardContext } from '../../models/forward-context.js';
import type { Linear } from '../../models/layers/linear.js';
import { LoraLayer } from './layer.js';
import type { LoraConfig } from './config.js';

export class DoraLayer extends LoraLayer {
  /** m ∈ ℝ^out (PEFT's lora_magnitude_vector). */
  readonly magnitude: Variable;

  constructor(
    private readonly base: Linear,
    config: LoraConfig,
    rng: Rng,
  ) {
    super(base.inFeatures, base.outFeatures, config, rng);
    // Our weights are [in, out]: the norm per output is over axis 0.
    this.magnitude = newVariable(() => tf.norm(base.weight, 'euclidean', 0), true);
  }

  /** ‖W₀ + s·AᵀBᵀ‖ per output, detached. */
  private weightNorm(): Tensor {
    const adapted = tf.add(
      this.base.weight,
      tf.mul(tf.matMul(this.loraA as unknown as Tensor2D, this.loraB as unknown as Tensor2D), this.scaling),
    );
    return stopGradient(tf.norm(adapted, 'euclidean', 0));
  }

  override forward(x: Tensor, baseOutput: Tensor, context: ForwardContext): Tensor {
    const scale = tf.div(this.magnitude, this.weightNorm());
    const dropped = context.training ? dropout(x, this.config.dropout, context.rng) : x;
    // PEFT recomputes W₀x on the dropped-out input when dropout is active; otherwise it reuses the base output.
    const baseProduct =
      dropped === x
        ? this.base.bias === undefined
          ? baseOutput
          : tf.sub(baseOutput, this.base.bias)
        : frozenLinear(dropped, this.base.weight as unknown as Tensor2D);
    const lora = tf.mul(this.lowRankProduct(dropped, context), this.scaling);
    return tf.add(baseOutput, tf.add(tf.mul(tf.sub(scale, 1), baseProduct), tf.mul(scale, lora)));
  }

  /** DoRA rescales the base output too: the plain low-rank op does not apply. */
  override lowRankUpdate(): undefined {
    return undefined;
  }

  override variables(): Variable[] {
    return [...super.variables(), this.magnitude];
  }
}
