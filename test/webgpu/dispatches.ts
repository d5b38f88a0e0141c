/**
 * Counting the compute dispatches a WebGPU kernel records, and the calls of a kernel, for the tests that pin how many a
 * call takes or that a kernel ran.
 */
import { tf, type Tensor } from '../../src/engine/tf.js';
import { tapeRecording } from '../../src/engine/ops/tape-recording.js';
// GPUBufferUsage.UNIFORM: the writes of a dispatch's uniforms, not of a tensor's values.
import { UNIFORM } from '../../src/engine/kept-uniforms.js';

/** A program tfjs-webgpu records: its pipeline's key and, for the WGSL, its code. */
export interface DispatchedProgram {
  readonly shaderKey?: string;
  getUserCode?(): string;
}

interface Recording {
  recordAndSubmit(program: DispatchedProgram, ...rest: unknown[]): unknown;
}

/** Calls `visit` with each program the webgpu backend records from now until the returned stop is called. */
function watchDispatches(visit: (program: DispatchedProgram) => void): () => void {
  const backend = tf.backend() as unknown as Recording;
  const record = backend.recordAndSubmit;
  backend.recordAndSubmit = (program, ...rest) => {
    visit(program);
    return record.call(backend, program, ...rest);
  };
  return () => {
    backend.recordAndSubmit = record;
  };
}

/** `body`'s value, `visit` called with each program recorded while it runs and settles (on the webgpu backend). */
export async function withDispatchedPrograms<T>(
  visit: (program: DispatchedProgram) => void,
  body: () => Promise<T>,
): Promise<T> {
  const stop = watchDispatches(visit);
  try {
    return await body();
  } finally {
    stop();
  }
}

/**
 * Compute dispatches of shaders whose key starts with `key` (or, `where` = 'contains', has it anywhere) while `body`
 * runs (on the webgpu backend).
 */
export function dispatchesOf(key: string, body: () => void, where: 'starts' | 'contains' = 'starts'): number {
  const counter = countDispatches((shaderKey) =>
    where === 'starts' ? shaderKey.startsWith(key) : shaderKey.includes(key),
  );
  try {
    body();
  } finally {
    counter.stop();
  }
  return counter.count();
}

/** `body`'s value and the dispatches, while it runs and settles, of shaders whose key has any of `parts` in it. */
export async function dispatchesWhile<T>(
  parts: readonly string[],
  body: () => Promise<T>,
): Promise<{ value: T; count: number }> {
  const counter = countDispatches((shaderKey) => parts.some((part) => shaderKey.includes(part)));
  try {
    return { value: await body(), count: counter.count() };
  } finally {
    counter.stop();
  }
}

/** Counts the dispatches of shaders whose key `matches`, from now until `stop`. */
function countDispatches(matches: (shaderKey: string) => boolean): { count(): number; stop(): void } {
  let count = 0;
  const stop = watchDispatches((program) => {
    if (matches(program.shaderKey ?? '')) count++;
  });
  return { count: () => count, stop };
}

/**
 * `body`'s value and how many times it ran the kernel `kernelName` (through tfjs's engine: op calls, not dispatches);
 * `tapedOnly` as withKernelCallCounts'.
 */
export async function withKernelCalls<T>(
  kernelName: string,
  body: () => Promise<T>,
  options: { tapedOnly?: boolean } = {},
): Promise<{ value: T; calls: number }> {
  const { value, calls } = await withKernelCallCounts([kernelName], body, options);
  return { value, calls: calls[kernelName]! };
}

/**
 * `body`'s value and how many times it ran each of the kernels `kernelNames`; with `tapedOnly`, the calls recorded on
 * a gradient tape only (engine/ops/tape-recording.ts), each of which tfjs's backward pass answers with calls of its own.
 */
export async function withKernelCallCounts<T>(
  kernelNames: readonly string[],
  body: () => Promise<T>,
  { tapedOnly = false }: { tapedOnly?: boolean } = {},
): Promise<{ value: T; calls: Record<string, number> }> {
  const engine = tf.engine();
  const runKernel = engine.runKernel.bind(engine);
  const calls = Object.fromEntries(kernelNames.map((name) => [name, 0]));
  engine.runKernel = ((
    name: string,
    ...rest: Parameters<typeof runKernel> extends [string, ...infer R] ? R : never
  ) => {
    if (name in calls && (!tapedOnly || tapeRecording())) calls[name]!++;
    return runKernel(name, ...rest);
  }) as typeof engine.runKernel;
  try {
    const value = await body();
    return { value, calls };
  } finally {
    engine.runKernel = runKernel;
  }
}

/** A forward pass's output values, the compute dispatches it recorded, and its calls of one kernel. */
export interface MeasuredForward {
  readonly values: number[];
  readonly calls: number;
  readonly dispatches: number;
}

/** `body`'s output (made in a tf.tidy, read, then freed) measured so, counting the kernel `kernelName`'s calls. */
export async function measuredForward(kernelName: string, body: () => Tensor): Promise<MeasuredForward> {
  let output: Tensor | undefined;
  let dispatches = 0;
  const { calls } = await withKernelCalls(kernelName, async () => {
    dispatches = dispatchesOf('', () => (output = tf.tidy(body)));
  });
  const values = Array.from(await output!.data());
  output!.dispose();
  return { values, calls, dispatches };
}

interface UniformWriting {
  readonly queue: {
    writeBuffer(buffer: { usage: number }, offset: number, data: ArrayBufferLike, from?: number, size?: number): void;
  };
}

/**
 * The bytes of each uniform write the webgpu backend's queue is asked for from now until `stop` (before kept-uniforms.ts
 * leaves out a repeated one); `sizes` may be emptied between calls.
 */
export function watchUniformWrites(): { readonly sizes: number[]; stop(): void } {
  const { queue } = tf.backend() as unknown as UniformWriting;
  const write = queue.writeBuffer;
  const sizes: number[] = [];
  queue.writeBuffer = (buffer, offset, data, from, size) => {
    if ((buffer.usage & UNIFORM) !== 0) sizes.push(size ?? data.byteLength);
    return write.call(queue, buffer, offset, data, from, size);
  };
  return {
    sizes,
    stop: () => {
      queue.writeBuffer = write;
    },
  };
}
