/**
 * Work the WebGPU device may refuse for its size (DeviceRefusal: a tensor over the binding limit, or out of memory),
 * tried at settings that take less memory one after another — an evaluation at half the batch, training in twice the
 * micro-batches — as lm-eval and accelerate retry on CUDA's out-of-memory. Any other error is thrown at once, and the
 * last setting's refusal too.
 */
import { tf } from './tf.js';
import { DeviceRefusal } from './webgpu-device-errors.js';

/**
 * Gives the GPU back what the refused work freed, where the backend keeps freed buffers (webgpu's pool): the retry,
 * which needs less, then starts from the memory the work before it left, and its peak is its own. Also the GPU kit's
 * out-of-memory probe's, after its refusal.
 */
export function releaseFreedMemory(): void {
  const engine = tf.engine();
  // No backend started (refusals without a device, in tests): nothing is pooled.
  if (!engine.backendName) return;
  (engine.backend as { releaseFreeBuffers?: () => void }).releaseFreeBuffers?.();
}

/** `attempt` at each of `settings` in turn, until one is not refused; its result and that setting. */
export async function firstNotRefused<R>(
  settings: readonly number[],
  attempt: (setting: number) => Promise<R>,
): Promise<{ result: R; setting: number }> {
  for (const [i, setting] of settings.entries()) {
    try {
      return { result: await attempt(setting), setting };
    } catch (error) {
      if (!(error instanceof DeviceRefusal) || i === settings.length - 1) throw error;
      releaseFreedMemory();
    }
  }
  throw new Error('firstNotRefused: no setting to try');
}
