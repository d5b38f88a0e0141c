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

/**
 * Submits the commands recorded so far, where the backend records them (webgpu), so that work whose results outlive a
 * refused attempt — the base weights a sweep keeps (models/base-model-cache.ts), the state an attempt starts from — is
 * not in the refused command buffer: the device drops a refused buffer whole, with every command recorded beside the
 * one it refused. (A submit every 60 dispatches put a model's load-time transposes in the same buffer as the first
 * step's refused product: the retry trained from weights never written.)
 */
export function commitRecordedWork(): void {
  const engine = tf.engine();
  if (!engine.backendName) return;
  (engine.backend as { submitRecorded?: () => void }).submitRecorded?.();
}

/** `attempt` at each of `settings` in turn, until one is not refused; its result and that setting. */
export async function firstNotRefused<R>(
  settings: readonly number[],
  attempt: (setting: number) => Promise<R>,
): Promise<{ result: R; setting: number }> {
  for (const [i, setting] of settings.entries()) {
    // What the attempt starts from is on the device before anything it records can be refused.
    commitRecordedWork();
    try {
      return { result: await attempt(setting), setting };
    } catch (error) {
      if (!(error instanceof DeviceRefusal) || i === settings.length - 1) throw error;
      releaseFreedMemory();
    }
  }
  throw new Error('firstNotRefused: no setting to try');
}
