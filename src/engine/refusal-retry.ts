/**
 * Work the WebGPU device may refuse for its size (DeviceRefusal: a tensor over the binding limit, or out of memory),
 * tried at settings that take less memory one after another — an evaluation at half the batch, training in twice the
 * micro-batches — as lm-eval and accelerate retry on CUDA's out-of-memory. Any other error is thrown at once, and the
 * last setting's refusal too.
 */
import { DeviceRefusal } from './webgpu-device-errors.js';

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
    }
  }
  throw new Error('firstNotRefused: no setting to try');
}
