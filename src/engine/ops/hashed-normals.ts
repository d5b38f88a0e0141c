/**
 * Standard normals from counter-based bits (engine/hashed-normals.ts): on webgpu drawn by a kernel on the device,
 * elsewhere by a WebAssembly loop straight into the backend's memory — the same values on every backend.
 */
import { tf, type Tensor2D } from '../tf.js';
import { filledTensor } from '../kernels/backend-output.js';
import { hashedNormalsInto } from '../kernels/random-wasm.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { HASHED_NORMALS, type HashedNormalsAttrs } from '../kernels/webgpu/hashed-normals.js';

/** [keys.length, count]: row l holds elements offset … offset + count − 1 of the draw keyed keys[l]. */
export function hashedNormals(keys: readonly number[], count: number, offset = 0): Tensor2D {
  if (hasKernel(HASHED_NORMALS)) {
    const attrs: HashedNormalsAttrs = { keys, count, offset };
    return tf.engine().runKernel(HASHED_NORMALS, {}, attrs as never) as Tensor2D;
  }
  return filledTensor([keys.length, count], (values) =>
    keys.forEach((key, l) => hashedNormalsInto(key, offset, values.subarray(l * count, (l + 1) * count))),
  ) as Tensor2D;
}
