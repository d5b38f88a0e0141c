/** Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_: scale by min(1, max / (‖g‖ + 1e-6)). */
import { tf, type Tensor } from '../engine/tf.js';
import { squaredNorm } from '../engine/ops/squared-norm.js';

/** Returns the clipped gradients (new tensors) and the pre-clipping global norm as a scalar tensor. */
export function clipByGlobalNorm(gradients: readonly Tensor[], maxNorm: number): { clipped: Tensor[]; norm: Tensor } {
  const norm = tf.sqrt(squaredNorm(gradients));
  if (maxNorm <= 0) return { clipped: [...gradients], norm };
  const coefficient = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
  return { clipped: gradients.map((g) => tf.mul(g, coefficient)), norm };
}
