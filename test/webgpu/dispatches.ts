/** Counting the compute dispatches a WebGPU kernel records, for the tests that pin how many a call takes. */
import { tf } from '../../src/engine/tf.js';

interface Recording {
  recordAndSubmit(program: { shaderKey?: string }, ...rest: unknown[]): unknown;
}

/** Compute dispatches of shaders whose key starts with `keyPrefix` while `body` runs (on the webgpu backend). */
export function dispatchesOf(keyPrefix: string, body: () => void): number {
  const backend = tf.backend() as unknown as Recording;
  const record = backend.recordAndSubmit;
  let count = 0;
  backend.recordAndSubmit = (program, ...rest) => {
    if (program.shaderKey?.startsWith(keyPrefix)) count++;
    return record.call(backend, program, ...rest);
  };
  try {
    body();
  } finally {
    backend.recordAndSubmit = record;
  }
  return count;
}
