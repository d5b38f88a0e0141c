/**
 * SwiGLU's gating by the webgpu kernels (engine/kernels/webgpu/swiglu.ts, through models/layers/swiglu.ts) against the
 * same layer on wasm (tfjs ops): silu(gate)·up and the gradients for gate and up, with gates out to ±30 (the
 * sigmoid's tails) and a size that is not a multiple of the workgroup. Within 1e-5 of the largest value; no tensor
 * left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { swiGlu } from '../../src/models/layers/swiglu.js';
import { SWIGLU } from '../../src/engine/kernels/webgpu/swiglu.js';
import { assertAgree } from './agreement.js';

async function run(backend: 'wasm' | 'webgpu'): Promise<number[][]> {
  await initEngine(backend);
  if (backend === 'webgpu') assert.ok(tf.getKernel(SWIGLU, 'webgpu'), 'the webgpu kernels are registered');
  const before = tf.memory().numTensors;
  const rng = new Rng(13);
  const shape: [number, number, number] = [3, 7, 131];
  const size = 3 * 7 * 131;
  const gate = tf.tensor3d(
    rng.normalArray(size, 0, 8).map((value) => Math.max(-30, Math.min(30, value))),
    shape,
  );
  const up = tf.tensor3d(rng.normalArray(size), shape);
  const dy = tf.tensor3d(rng.normalArray(size), shape);
  const { value, grads } = tf.valueAndGrads((g: Tensor, u: Tensor) => tf.sum(tf.mul(swiGlu(g, u), dy)))([gate, up]);
  const out = tf.tidy(() => swiGlu(gate, up));
  const arrays = await Promise.all([out, ...grads].map(async (t) => Array.from(await t.data())));
  tf.dispose([gate, up, dy, value, out, ...grads]);
  assert.equal(tf.memory().numTensors, before);
  return arrays;
}

test('webgpu SwiGLU agrees with wasm: output and the gradients of gate and up', async () => {
  const reference = await run('wasm');
  const candidate = await run('webgpu');
  ['output', 'dGate', 'dUp'].forEach((label, i) => assertAgree(label, candidate[i]!, reference[i]!, 1e-5));
});

test('webgpu SwiGLU refuses operands of different shapes (it reads them element for element)', async () => {
  await initEngine('webgpu');
  const gate = tf.ones([2, 3]);
  const up = tf.ones([3]);
  assert.throws(() => tf.engine().runKernel(SWIGLU, { gate, up }), /McevalSwiGlu: operands \[2, 3\], \[3\] differ/);
  tf.dispose([gate, up]);
});
