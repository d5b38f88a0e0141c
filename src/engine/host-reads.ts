/** Whether the current backend can read tensors back synchronously (every one but WebGPU in Node). */
import { tf } from './tf.js';

export function readsSynchronously(): boolean {
  return tf.getBackend() !== 'webgpu';
}
