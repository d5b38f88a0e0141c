/**
 * A plain frozen layer's output for SwiGLU's gating x = silu(gate)·up (a decoder's down_proj), the residual stream
 * added, where webgpu's product reads the gating as it loads x: neither a dispatch nor a [tokens, intermediate] tensor
 * of its own. Undefined where the layer's product of the gated tensor would not run on the kernel that reads it, or
 * MCEVAL_WEBGPU_ACTIVATIONS=apart (the caller then gates first), so that the values are that product's: the gating's
 * are McevalSwiGlu's. For forward passes off the tape (generation, scoring): it has no gradient. A low-rank layer reads
 * an activation by ops/activated-low-rank-linear.ts.
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { activationSetting } from '../activation-setting.js';
import { gatedProductPlus } from './product.js';
import { flatten, restore } from './linear.js';

/** residual + silu(gate)·up·W for a plain frozen layer, where frozenLinearPlus's product runs on mceval's tiles. */
export function gatedFrozenLinearPlus(
  gate: Tensor,
  up: Tensor,
  weight: Tensor2D,
  residual: Tensor,
): Tensor | undefined {
  if (activationSetting() !== 'inside') return undefined;
  return tf.tidy(() => {
    const output = gatedProductPlus(flatten(gate), flatten(up), weight, flatten(residual));
    return output === undefined ? undefined : restore(output, gate);
  });
}
