/**
 * Inverted dropout whose mask is keyed by one draw of mceval's seeded generator and made by a counter-based hash
 * (engine/dropout-bits.ts): on webgpu by a kernel on the device, elsewhere by a WebAssembly loop on the host — the same
 * mask on every backend.
 */
import { tf, type Tensor } from '../tf.js';
import type { Rng } from '../rng.js';
import { filledTensor } from '../kernels/backend-output.js';
import { keepThreshold, type HashedDropout } from '../dropout-bits.js';
import { drawKey } from '../counter-hash.js';
import { drawnValue } from '../replay/step-values.js';
import { hashedKeepMaskInto } from '../kernels/random-wasm.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { DROPOUT_MASK, type DropoutMaskAttrs } from '../kernels/webgpu/dropout-mask.js';
import type { CustomGradientFunc } from './product.js';

/**
 * Draws one mask's key from the generator (one draw whenever rate > 0): undefined when nothing is dropped — rate 0,
 * or keep within 2⁻³² of 1, where every element is kept and 1/keep is 1 in float32.
 */
export function drawDropout(rate: number, rng: Rng | undefined): HashedDropout | undefined {
  if (rate <= 0) return undefined;
  if (rng === undefined) throw new Error('dropout in training mode needs a seeded generator');
  const keep = 1 - rate;
  // A replayed step draws its key again (replay/step-values.ts).
  const key = drawnValue(
    () => drawKey(rng.nextUint32()),
    (drawn) => new Uint8Array(Uint32Array.of(drawn).buffer),
  );
  const threshold = keepThreshold(keep);
  return threshold > 4294967295 ? undefined : { key, threshold, scale: 1 / keep };
}

/**
 * The mask kernel (webgpu) for a drawn dropout over `shape`: the mask itself, or given x, x times the mask.
 */
function maskKernel(drawn: HashedDropout, shape: number[], x?: Tensor): Tensor {
  const attrs: DropoutMaskAttrs = { shape, key: drawn.key, threshold: drawn.threshold, value: drawn.scale };
  return tf.engine().runKernel(DROPOUT_MASK, x === undefined ? {} : { x }, attrs as never) as Tensor;
}

/** The mask of a drawn dropout for a tensor of this shape: 1/keep where kept, 0 where dropped. */
export function keepMask(shape: number[], drawn: HashedDropout): Tensor {
  if (hasKernel(DROPOUT_MASK)) return maskKernel(drawn, shape);
  const { key, threshold, scale } = drawn;
  return filledTensor(shape, (values) => hashedKeepMaskInto(key, threshold, scale, values));
}

/** The mask (1/keep where kept, 0 where dropped) for a tensor of this shape, or undefined when nothing is dropped. */
export function dropoutMask(shape: number[], rate: number, rng: Rng | undefined): Tensor | undefined {
  const drawn = drawDropout(rate, rng);
  return drawn === undefined ? undefined : keepMask(shape, drawn);
}

/**
 * x with dropout (a mask drawn from `rng`). Where the backend has the mask kernel (webgpu), the kernel multiplies x by
 * the mask as it makes it, and the gradient — dy dropped by the same mask — likewise: two dispatches and no mask
 * tensor kept for the backward pass, where the mask, the product and the product's gradient took three. The values are
 * tfjs's Mul by the mask.
 */
export function dropout(x: Tensor, rate: number, rng: Rng | undefined): Tensor {
  const drawn = drawDropout(rate, rng);
  return drawn === undefined ? x : droppedBy(x, drawn);
}

/** x with a dropout drawn already (the mask drawDropout keyed): the same values and gradient as `dropout`'s. */
export function droppedBy(x: Tensor, drawn: HashedDropout): Tensor {
  if (!hasKernel(DROPOUT_MASK)) return tf.mul(x, keepMask(x.shape, drawn));
  const dropped = (t: Tensor) => maskKernel(drawn, t.shape, t);
  const op = tf.customGrad(((input: Tensor, save: (tensors: Tensor[]) => void) => {
    save([]);
    return { value: dropped(input), gradFunc: (dy: Tensor) => [dropped(dy)] };
  }) as unknown as CustomGradientFunc) as (input: Tensor) => Tensor;
  return op(x);
}
