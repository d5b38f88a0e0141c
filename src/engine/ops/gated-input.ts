/**
 * A layer's output for SwiGLU's gating x = silu(gate)·up (a decoder's down_proj), the residual stream added, where
 * webgpu's products read the gating as they load x: neither a dispatch nor a [tokens, intermediate] tensor of its own.
 * Each returns undefined where the layer's product of the gated tensor would not run on the kernel that reads it (the
 * caller then gates first), so that the values are that product's: the gating's are McevalSwiGlu's. For forward
 * passes off the tape (generation, scoring): these have no gradient.
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { inlinesNarrowProduct, LOW_RANK_PRODUCT_INLINE } from '../kernels/webgpu/low-rank-product.js';
import type { WebGpuBackendLike } from '../kernels/webgpu/shader.js';
import { outputInlineAttrs, type LowRankUpdate } from './low-rank-linear.js';
import { gatedProductPlus } from './product.js';
import { flatten, restore } from './linear.js';
import { withColumnScales } from './column-scales.js';

/**
 * residual + silu(gate)·up·W + b + s·(silu(gate)·up·A)·B for a low-rank layer without dropout or perturbation (an
 * adapter outside training), where lowRankLinear would form its narrow product inside the layer's product
 * (McevalLowRankProductInline) — the gating's two bindings counted.
 */
export function gatedLowRankLinear(
  gate: Tensor,
  up: Tensor,
  weight: Tensor2D,
  bias: Tensor | undefined,
  update: LowRankUpdate,
  residual?: Tensor,
): Tensor | undefined {
  return withColumnScales([{ bias, residual, update }], ([layer]) => {
    const output = unscaledGatedLowRankLinear(gate, up, weight, layer!);
    return output === undefined ? undefined : [output];
  })?.[0];
}

/** What gatedLowRankLinear reads besides its input and weight. */
interface GatedLayer {
  readonly bias?: Tensor | undefined;
  readonly residual?: Tensor | undefined;
  readonly update: LowRankUpdate;
}

/** gatedLowRankLinear for an update without a column scale. */
function unscaledGatedLowRankLinear(
  gate: Tensor,
  up: Tensor,
  weight: Tensor2D,
  { bias, residual, update }: GatedLayer,
): Tensor | undefined {
  if (!hasKernel(LOW_RANK_PRODUCT_INLINE) || update.dropout !== undefined || update.perturbation !== undefined)
    return undefined;
  const [inner, columns] = weight.shape;
  const candidate = {
    rows: gate.size / inner,
    inner,
    columns,
    rank: update.a.shape[1],
    inputMask: false,
    // Bias and addend where given, and up beside gate.
    others: Number(bias !== undefined) + Number(residual !== undefined) + 1,
  };
  if (!inlinesNarrowProduct(tf.backend() as unknown as WebGpuBackendLike, candidate)) return undefined;
  return tf.tidy(() => {
    const inputs = {
      gate: flatten(gate),
      up: flatten(up),
      w: weight,
      n: update.a,
      e: update.b,
      ...(bias === undefined ? {} : { bias: tf.reshape(bias, [-1]) }),
      ...(residual === undefined ? {} : { addend: flatten(residual) }),
    };
    const attrs = outputInlineAttrs(update);
    const [output] = tf.engine().runKernel(LOW_RANK_PRODUCT_INLINE, inputs as never, attrs as never) as Tensor2D[];
    return restore(output!, gate);
  });
}

/** residual + silu(gate)·up·W for a plain frozen layer, where frozenLinearPlus's product runs on mceval's tiles. */
export function gatedFrozenLinearPlus(
  gate: Tensor,
  up: Tensor,
  weight: Tensor2D,
  residual: Tensor,
): Tensor | undefined {
  return tf.tidy(() => {
    const output = gatedProductPlus(flatten(gate), flatten(up), weight, flatten(residual));
    return output === undefined ? undefined : restore(output, gate);
  });
}
