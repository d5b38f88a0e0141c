/**
 * The product tiles' inner steps written out (MCEVAL_WEBGPU_PRODUCT_CODE=unrolled, low-rank-product-wgsl.ts) against
 * their loops: the same operations in the same order, so training steps that run every tiled kernel (the low-rank
 * product, inline and apart, a group's outputs and input gradient, the matrix product of DoRA's split layers) give the
 * same losses bit for bit; a single layer at sizes that are no multiple of 4 (scalar loads) gives the same output and
 * gradients at both tiles (64 × 64 and 128 × 128, whose two blocks a side the steps' 64-wide tiles leave out: its
 * compiling takes lavapipe a minute a step). Each case checks that the written-out shaders ran — and none under
 * `loops`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { lowRankLinear } from '../../src/engine/ops/low-rank-linear.js';
import { stepper, type Method } from '../../bench/gpu/step-methods.js';
import { withEnv } from '../helpers.js';
import { normalMatrices } from './random-matrix.js';
import { keepThreshold } from '../../src/engine/dropout-bits.js';
import { drawKey } from '../../src/engine/counter-hash.js';

interface Program {
  readonly shaderKey?: string;
  getUserCode?(): string;
}

/** `body`'s value and the kernels (shader keys before their first `_`) whose dispatched code is written out. */
async function withUnrolledKernels<T>(body: () => Promise<T>): Promise<{ value: T; kernels: Set<string> }> {
  const backend = tf.backend() as unknown as { recordAndSubmit(program: Program, ...rest: unknown[]): unknown };
  const record = backend.recordAndSubmit;
  const kernels = new Set<string>();
  backend.recordAndSubmit = (program, ...rest) => {
    // An inner step written out names its accumulators by constants.
    if (program.getUserCode?.().includes('acc[0] += a0.x * b0;') === true)
      kernels.add(program.shaderKey!.split('_')[0]!);
    return record.call(backend, program, ...rest);
  };
  try {
    return { value: await body(), kernels };
  } finally {
    backend.recordAndSubmit = record;
  }
}

/** Three steps' losses of `method` on builtin:tiny (80 tokens: the tiles, not the few-rows shader). */
async function losses(method: Method): Promise<{ value: number[]; kernels: Set<string> }> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const { model } = loadModel('builtin:tiny');
  const run = stepper(model, 2, 40, 3, method);
  try {
    return await withUnrolledKernels(async () => [await run.step(), await run.step(), await run.step()]);
  } finally {
    run.dispose();
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  }
}

// The products' kernels each step runs on its tiles: a group's outputs and input gradient and the inline products
// (narrow products inside, lora-dropout), the low-rank product beside its own narrow products and DoRA's split layers'
// matrix products (dora).
const STEP_CASES = [
  {
    method: 'lora-dropout',
    inline: 'always',
    kernels: ['McevalLowRankProductGroup', 'McevalLowRankGradientGroup', 'McevalLowRankProductInline'],
  },
  { method: 'dora', inline: 'never', kernels: ['McevalLowRankProduct', 'McevalMatrixProduct'] },
] as const;

for (const { method, inline, kernels } of STEP_CASES)
  test(`${method} steps (inline ${inline}) lose the same bits with the products unrolled`, async () => {
    const settled = (code: string) =>
      withEnv('MCEVAL_WEBGPU_INLINE_NARROW', inline, () =>
        withEnv('MCEVAL_WEBGPU_PRODUCT_CODE', code, () => losses(method)),
      );
    const loops = await settled('loops');
    const unrolled = await settled('unrolled');
    assert.deepEqual(unrolled.value, loops.value);
    assert.deepEqual([...loops.kernels], []);
    for (const kernel of kernels) assert.ok(unrolled.kernels.has(kernel), `${kernel} ran unrolled`);
  });

/** A 37 → 77 layer of rank 5 with dropout and a perturbation: its output and every gradient (scalar loads). */
async function oddLayer(): Promise<{ value: number[][]; kernels: Set<string> }> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const rng = new Rng(9);
  const matrix = normalMatrices(rng);
  const x = tf.tensor2d(rng.normalArray(70 * 37), [70, 37]);
  const [w, a, b, p] = [matrix(37, 77), matrix(37, 5), matrix(5, 77), matrix(37, 5)];
  const dy = tf.tensor2d(rng.normalArray(70 * 77), [70, 77]);
  const dropout = { key: drawKey(rng.nextUint32()), threshold: keepThreshold(0.8), scale: 1 / 0.8 };
  const forward = (...args: Tensor[]) =>
    lowRankLinear(args[0]!, w, undefined, {
      a: args[1] as Tensor2D,
      b: args[2] as Tensor2D,
      perturbation: args[3] as Tensor2D,
      scaling: 2,
      dropout,
    });
  try {
    return await withUnrolledKernels(async () => {
      const { value, grads } = tf.valueAndGrads((...args: Tensor[]) => tf.sum(tf.mul(forward(...args), dy)))([
        x,
        a,
        b,
        p,
      ]);
      const out = tf.tidy(() => forward(x, a, b, p));
      const arrays = await Promise.all([out, ...grads].map(async (t) => Array.from((await t.data()) as Float32Array)));
      tf.dispose([value, out, ...grads]);
      return arrays;
    });
  } finally {
    tf.dispose([x, w, a, b, p, dy]);
    assert.equal(tf.memory().numTensors, before);
  }
}

for (const tile of ['64', '128'])
  test(`a layer read by scalar loads gives the same output and gradients with its products unrolled (tile ${tile})`, async () => {
    const layer = (code: string) =>
      withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, () => withEnv('MCEVAL_WEBGPU_PRODUCT_CODE', code, oddLayer));
    const loops = await layer('loops');
    const unrolled = await layer('unrolled');
    assert.deepEqual(unrolled.value, loops.value);
    assert.ok(unrolled.kernels.has('McevalLowRankProduct'));
    assert.deepEqual([...loops.kernels], []);
  });

test('an unknown MCEVAL_WEBGPU_PRODUCT_CODE stops the engine with one line', async () => {
  await withEnv('MCEVAL_WEBGPU_PRODUCT_CODE', 'fast', async () =>
    assert.rejects(() => initEngine('wasm'), /MCEVAL_WEBGPU_PRODUCT_CODE=fast/),
  );
});
