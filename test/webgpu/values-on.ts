/** Running one op's calls on a backend, for the WebGPU kernel tests that compare a device kernel with the host's. */
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { tf, type Tensor } from '../../src/engine/tf.js';

/**
 * The values of each tensor `calls` yields on `backend` (started fresh: seeded state made inside `calls` starts over),
 * each read and disposed before the next; on webgpu `kernelName` must be registered, and no tensor may be left behind.
 */
export async function valuesOn(
  backend: 'wasm' | 'webgpu',
  kernelName: string,
  calls: () => Iterable<Tensor>,
): Promise<Float32Array[]> {
  await initEngine(backend);
  if (backend === 'webgpu') assert.ok(tf.getKernel(kernelName, 'webgpu'), 'the webgpu kernel is registered');
  const before = tf.memory().numTensors;
  const out = [];
  for (const t of calls()) {
    out.push((await t.data()) as Float32Array);
    t.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  return out;
}
