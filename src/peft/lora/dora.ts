/**
 * DoRA (Liu et al. 2024) as PEFT implements it: the adapted weight W' = W₀ + s·ΔW is split into a learned magnitude
 * m (one per output, initialised to ‖W₀‖ per output) and its direction, y = m ⊙ (W' x) / ‖W'‖. The norm is detached,
 * as in the paper's §4.3 and PEFT. With b the bias and c = m / ‖W'‖: y = W₀x + b + (c − 1) ⊙ W₀x + c ⊙ s·ΔW x, where
 * under dropout (training) PEFT forms the last two terms from the dropped-out input x_d.
 *
 * Over a frozen base the layer runs on the fused low-rank op (engine/ops/low-rank-linear.ts) — as LoRA does, so on
 * webgpu with its kernels: outside dropout y = c ⊙ (W₀x + s·ΔW x) + b, the op with a column scale; under dropout
 * y = W₀x_r + b + c ⊙ v with v = W₀x_d + s·ΔW x_d and x_r = (1 − m) ⊙ x = x − x_d, the op split at its dropout
 * (W₀x = W₀x_r + W₀x_d: two base products, as PEFT's W₀x and W₀x_d; low-rank-linear.ts's splitsAtDropout). Either is
 * PEFT's sum regrouped (the same terms; float32 rounds them in another order).
 */
import { tf, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { newVariable } from '../../engine/variables.js';
import { linear } from '../../engine/ops/linear.js';
import { type LowRankUpdate } from '../../engine/ops/low-rank-linear.js';
import { adaptedColumnNormsOf, type AdaptedWeight } from '../../engine/ops/adapted-column-norms.js';
import { magnitudeScaled, type MagnitudeScale } from '../../engine/ops/magnitude-scale.js';
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

  /**
   * The DoRA layers whose weight norms are formed together, this one among them: its adapter's (loraMethod sets it),
   * else itself alone.
   */
  normGroup: readonly DoraLayer[] = [this];

  /** W₀, A, B and s, whose ‖W₀ + s·A·B‖ per output is the norm. */
  private get adaptedWeight(): AdaptedWeight {
    const [weight, a, b] = [this.base.weight, this.loraA, this.loraB] as unknown as Tensor2D[];
    return { weight: weight!, a: a!, b: b!, scale: this.scaling };
  }

  /**
   * c = m / ‖W₀ + s·A·B‖ per output, the norm detached (formed inside the op that scales by c): once per call where
   * the context shares what the weights derive (a generation's steps, a training step's micro-batches), with every
   * layer's of the group (on webgpu several layers a dispatch), else each pass.
   */
  private columnScale(context: ForwardContext): MagnitudeScale {
    const constants = context.constants;
    const group = this.normGroup;
    const norms =
      constants === undefined
        ? () => adaptedColumnNormsOf([this.adaptedWeight])[0]!
        : () =>
            constants.getMany(group, () => adaptedColumnNormsOf(group.map((layer) => layer.adaptedWeight)))[
              group.indexOf(this)
            ]!;
    return { magnitude: this.magnitude, norms };
  }

  /**
   * B with c as one more row, made once per call where the context shares what the weights derive: off the tape, the
   * products on webgpu scale their columns by it as they write them (column-scales.ts). Undefined elsewhere: made
   * each pass, it would cost the dispatch it saves.
   */
  private factoredB(context: ForwardContext, scale: MagnitudeScale): (() => Tensor2D) | undefined {
    const constants = context.constants;
    if (constants === undefined) return undefined;
    const make = () => tf.concat([this.loraB, tf.reshape(tf.div(this.magnitude, scale.norms()), [1, -1])]);
    return () => constants.get(this.magnitude, make) as Tensor2D;
  }

  /**
   * The low-rank op with c as its column scale; under dropout split at it, c scaling the dropped part (the file's
   * header). Undefined over a trainable base.
   */
  override lowRankUpdate(x: Tensor, base: Linear, context: ForwardContext): LowRankUpdate | undefined {
    const update = super.lowRankUpdate(x, base, context);
    if (update === undefined) return undefined;
    const scale = this.columnScale(context);
    if (update.dropout !== undefined) return { ...update, columnScale: scale, splitAtDropout: true };
    return { ...update, columnScale: scale, factoredB: this.factoredB(context, scale) };
  }

  /** Over a trainable base (whose gradient the fused op does not take): u + (c − 1) ⊙ v from tfjs's products. */
  override forward(x: Tensor, baseOutput: Tensor, context: ForwardContext): Tensor {
    const dropped = context.training ? dropout(x, this.config.dropout, context.rng) : x;
    // PEFT recomputes W₀x on the dropped-out input when dropout is active; otherwise it reuses the base output.
    const baseProduct =
      dropped === x
        ? this.base.bias === undefined
          ? baseOutput
          : tf.sub(baseOutput, this.base.bias)
        : linear(dropped, this.base.weight as unknown as Tensor2D);
    const lora = tf.mul(this.lowRankProduct(dropped, context), this.scaling);
    return magnitudeScaled(tf.add(baseProduct, lora), this.columnScale(context), 1, tf.add(baseOutput, lora));
  }

  override variables(): Variable[] {
    return [...super.variables(), this.magnitude];
  }
}
