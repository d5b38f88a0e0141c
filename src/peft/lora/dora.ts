/**
 * DoRA (Liu et al. 2024) as PEFT implements it: the adapted weight W' = W₀ + s·ΔW is split into a learned magnitude
 * m (one per output, initialised to ‖W₀‖ per output) and its direction, y = m ⊙ (W' x) / ‖W'‖. The norm is detached,
 * as in the paper's §4.3 and PEFT. With b the bias and c = m / ‖W'‖: y = W₀x + b + (c − 1) ⊙ W₀x + c ⊙ s·ΔW x, where
 * under dropout (training) PEFT forms the last two terms from the dropped-out input x_d.
 *
 * Over a frozen base the layer runs on the fused low-rank op (engine/ops/low-rank-linear.ts) — as LoRA does, so on
 * webgpu with its kernels: outside dropout y = c ⊙ (W₀x + s·ΔW x) + b, the op with a column scale; under dropout
 * y = u + (c − 1) ⊙ v with u = W₀x + b + s·ΔW x_d and v = W₀x_d + s·ΔW x_d, two such ops. Either is PEFT's sum
 * regrouped (the same terms; float32 rounds them in another order).
 */
import { tf, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { newVariable } from '../../engine/variables.js';
import { linear } from '../../engine/ops/linear.js';
import { lowRankLinear, type LowRankUpdate } from '../../engine/ops/low-rank-linear.js';
import { adaptedColumnNorms } from '../../engine/ops/adapted-column-norms.js';
import { magnitudeScaled, type MagnitudeScale } from '../../engine/ops/magnitude-scale.js';
import { dropout, droppedBy } from '../../engine/ops/dropout.js';
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
   * c = m / ‖W₀ + s·A·B‖ per output, the norm detached (formed inside the op that scales by c): once per call where
   * the context shares what the weights derive (a generation's steps, a training step's micro-batches), else each pass.
   */
  private columnScale(context: ForwardContext): MagnitudeScale {
    const [weight, a, b] = [this.base.weight, this.loraA, this.loraB] as unknown as Tensor2D[];
    const norms = () => adaptedColumnNorms(weight!, a!, b!, this.scaling);
    return { magnitude: this.magnitude, norms: () => context.constants?.get(this, norms) ?? norms() };
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

  /** Outside dropout: the low-rank op with c as its column scale. Under dropout ownForward forms the layer. */
  override lowRankUpdate(x: Tensor, base: Linear, context: ForwardContext): LowRankUpdate | undefined {
    if (context.training && this.config.dropout > 0) return undefined;
    const update = super.lowRankUpdate(x, base, context);
    if (update === undefined) return undefined;
    const scale = this.columnScale(context);
    return { ...update, columnScale: scale, factoredB: this.factoredB(context, scale) };
  }

  /** The layer under dropout as u + (c − 1) ⊙ v (the file's header), over a frozen base; else undefined. */
  ownForward(x: Tensor, base: Linear, context: ForwardContext): Tensor | undefined {
    // LoRA's update for this pass, its dropout drawn: u's. Undefined over a trainable base.
    const update = super.lowRankUpdate(x, base, context);
    if (update === undefined) return undefined;
    const weight = base.weight as unknown as Tensor2D;
    const scale = this.columnScale(context);
    const { dropout: drawn, ...undropped } = update;
    if (drawn === undefined) return lowRankLinear(x, weight, base.bias, { ...undropped, columnScale: scale });
    const u = lowRankLinear(x, weight, base.bias, update);
    const v = lowRankLinear(droppedBy(x, drawn), weight, undefined, undropped);
    return magnitudeScaled(v, scale, 1, u);
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
