/** Counting one kernel's calls through tfjs's engine, for tests that pin whether an op ran as a kernel. */
import { tf } from '../src/engine/tf.js';

/** `body`'s value and how many times the engine ran the kernel `name` while it ran. */
export async function kernelCalls<T>(name: string, body: () => T | Promise<T>): Promise<{ value: T; calls: number }> {
  const engine = tf.engine() as unknown as { runKernel: (kernel: string, ...rest: unknown[]) => unknown };
  const runKernel = engine.runKernel;
  let calls = 0;
  engine.runKernel = function (this: unknown, kernel: string, ...rest: unknown[]) {
    if (kernel === name) calls++;
    return runKernel.call(this, kernel, ...rest);
  };
  try {
    return { value: await body(), calls };
  } finally {
    engine.runKernel = runKernel;
  }
}
