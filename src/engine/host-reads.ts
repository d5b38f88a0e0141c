/** Whether the current backend can read tensors back synchronously (every one but WebGPU in Node). */
import { tf, type Tensor } from './tf.js';

export function readsSynchronously(): boolean {
  return tf.getBackend() !== 'webgpu';
}

/**
 * A tensor's values, read asynchronously (so on every backend), the tensor freed whether the read succeeds or fails (a
 * read fails where the WebGPU device refused the work: `--eval-batch-size auto` then tries a smaller batch).
 */
export async function readAndDispose(tensor: Tensor): Promise<Float32Array | Int32Array | Uint8Array> {
  try {
    return await tensor.data();
  } finally {
    tensor.dispose();
  }
}
