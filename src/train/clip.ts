/**
 * Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_: scale by min(1, max / (‖g‖ + 1e-6)). The
 * scaling itself is left to the optimizer (AdamW.apply's gradientScale), whose one-kernel update multiplies each
 * gradient as it reads it: on WebGPU a multiplication per parameter is a dispatch per parameter.
 */
import { tf, type Tensor } from '../engine/tf.js';
import { normOnDevice, squaredNorm, type JoinedTensors } from '../engine/ops/squared-norm.js';

/**
 * The pre-clipping global norm and, when `maxNorm` > 0, the coefficient to multiply every gradient by (one value); on
 * webgpu also the gradients as the norm's kernel joined them (`joined`, for AdamW.apply, which reads them there; the
 * caller's to dispose, or its tidy's).
 */
export function globalNormClipping(
  gradients: readonly Tensor[],
  maxNorm: number,
): { norm: Tensor; coefficient?: Tensor; joined?: JoinedTensors } {
  // On webgpu one kernel gives both (squared-norm.ts).
  const onDevice = normOnDevice(gradients, maxNorm);
  if (onDevice !== undefined) return onDevice;
  const norm = tf.sqrt(squaredNorm(gradients));
  if (maxNorm <= 0) return { norm };
  return { norm, coefficient: tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6))) };
}
