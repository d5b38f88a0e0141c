/**
 * Counting the compute dispatches a WebGPU kernel records, and the calls of a kernel, for the tests that pin how many a
 * call takes or that a kernel ran.
 */
import { tf } from '../../src/engine/tf.js';

interface Recording {
  recordAndSubmit(program: { shaderKey?: string }, ...rest: unknown[]): unknown;
}

/**
 * Compute dispatches of shaders whose key starts with `key` (or, `where` = 'contains', has it anywhere) while `body`
 * runs (on the webgpu backend).
 */
export function dispatchesOf(key: string, body: () => void, where: 'starts' | 'contains' = 'starts'): number {
  const backend = tf.backend() as unknown as Recording;
  const record = backend.recordAndSubmit;
  let count = 0;
  backend.recordAndSubmit = (program, ...rest) => {
    const shaderKey = program.shaderKey ?? '';
    if (where === 'starts' ? shaderKey.startsWith(key) : shaderKey.includes(key)) count++;
    return record.call(backend, program, ...rest);
  };
  try {
    body();
  } finally {
    backend.recordAndSubmit = record;
  }
  return count;
}

/** `body`'s value and how many times it ran the kernel `kernelName` (through tfjs's engine: op calls, not dispatches). */
export async function withKernelCalls<T>(
  kernelName: string,
  body: () => Promise<T>,
): Promise<{ value: T; calls: number }> {
  const { value, calls } = await withKernelCallCounts([kernelName], body);
  return { value, calls: calls[kernelName]! };
}

/** `body`'s value and how many times it ran each of the kernels `kernelNames`. */
export async function withKernelCallCounts<T>(
  kernelNames: readonly string[],
  body: () => Promise<T>,
): Promise<{ value: T; calls: Record<string, number> }> {
  const engine = tf.engine();
  const runKernel = engine.runKernel.bind(engine);
  const calls = Object.fromEntries(kernelNames.map((name) => [name, 0]));
  engine.runKernel = ((
    name: string,
    ...rest: Parameters<typeof runKernel> extends [string, ...infer R] ? R : never
  ) => {
    if (name in calls) calls[name]!++;
    return runKernel(name, ...rest);
  }) as typeof engine.runKernel;
  try {
    const value = await body();
    return { value, calls };
  } finally {
    engine.runKernel = runKernel;
  }
}
