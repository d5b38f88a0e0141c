/**
 * The matrix product kernel (engine/kernels/webgpu/matrix-product.ts) through engine/ops/product.ts: a·bᵀ, a·b and aᵀ·b
 * with MCEVAL_WEBGPU_PRODUCTS=all against the same ops on wasm (within 1e-5 of the largest value, and the same bits
 * twice), sizes that are multiples of 4 (vec4 loads) and not, rows and columns off the 64- and 128-wide tiles, both
 * tiles; which products the setting sends to the kernel (the products tfjs gives its programs for few workgroups stay
 * with it); a frozen layer's output with the residual added inside its product, and its gradients; a full fine-tuning
 * step, whose input gradients are such products, on webgpu under each setting (the same bits: the tiles add the inner
 * terms in tfjs's order) and on wasm (2e-4 relative, the tolerance of parity.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { plainProduct, productTransposedLeft, productTransposedRight } from '../../src/engine/ops/product.js';
import { MATRIX_PRODUCT, tfjsTilesProduct } from '../../src/engine/kernels/webgpu/matrix-product.js';
import { frozenLinearPlus } from '../../src/engine/ops/linear.js';
import { loadModel } from '../../src/models/load.js';
import { fullFineTuningMethod } from '../../src/peft/full/index.js';
import { causalLmStep } from '../../src/train/synthetic-step.js';
import { withEnv } from '../with-env.js';
import { assertAgree } from './agreement.js';
import { valuesOn } from './values-on.js';
import { withKernelCalls } from './dispatches.js';

interface Case {
  readonly rows: number;
  readonly inner: number;
  readonly columns: number;
  readonly tile: '64' | '128';
}

const CASES: Case[] = [
  { rows: 256, inner: 64, columns: 200, tile: '64' },
  { rows: 130, inner: 66, columns: 70, tile: '64' },
  { rows: 300, inner: 40, columns: 36, tile: '128' },
  { rows: 97, inner: 257, columns: 129, tile: '128' },
  { rows: 64, inner: 768, columns: 256, tile: '64' },
  { rows: 70, inner: 64, columns: 130, tile: '64' },
];

/** a·bᵀ, a·w and pᵀ·w, `calls` times, from one seed. */
function* products(c: Case, calls: number): Generator<Tensor> {
  const rng = new Rng(17);
  const matrix = (rows: number, columns: number) =>
    tf.tensor2d(rng.normalArray(rows * columns), [rows, columns]) as Tensor2D;
  const [a, b, w] = [matrix(c.rows, c.inner), matrix(c.columns, c.inner), matrix(c.inner, c.columns)];
  const p = matrix(c.inner, c.rows);
  for (let call = 0; call < calls; call++) {
    // In a tidy: on wasm a product transposes its operand first.
    yield tf.tidy(() => productTransposedRight(a, b));
    yield tf.tidy(() => plainProduct(a, w));
    yield tf.tidy(() => productTransposedLeft(p, w));
  }
  tf.dispose([a, b, w, p]);
}

for (const c of CASES) {
  test(`webgpu matrix product agrees with wasm: ${c.rows} × ${c.inner} → ${c.columns}, tile ${c.tile}`, async () => {
    const expected = await valuesOn('wasm', MATRIX_PRODUCT, () => products(c, 1));
    const { value: values, calls } = await withKernelCalls(MATRIX_PRODUCT, () =>
      withEnv('MCEVAL_WEBGPU_PRODUCTS', 'all', () =>
        withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', c.tile, () => valuesOn('webgpu', MATRIX_PRODUCT, () => products(c, 2))),
      ),
    );
    assert.equal(calls, 6, 'every product ran on the kernel');
    assertAgree('a·bᵀ', Array.from(values[0]!), Array.from(expected[0]!), 1e-5);
    assertAgree('a·w', Array.from(values[1]!), Array.from(expected[1]!), 1e-5);
    assertAgree('pᵀ·w', Array.from(values[2]!), Array.from(expected[2]!), 1e-5);
    assert.deepEqual(values.slice(3), values.slice(0, 3), 'the same bits the second time');
  });
}

test('MCEVAL_WEBGPU_PRODUCTS sends a·bᵀ (transposed, the default), every product (all) or none (tfjs) to the kernel', async () => {
  await initEngine('webgpu');
  const big = { rows: 128, inner: 64, columns: 96, tile: '64' } as const;
  // 8 rows × 64 columns: two 32 × 32 tiles, which tfjs gives its program for few workgroups — but a·bᵀ and a·w have
  // few rows (the few-rows shader's, under any setting but tfjs); pᵀ·w's 64 rows stay with tfjs.
  const few = { rows: 8, inner: 64, columns: 64, tile: '64' } as const;
  const kernelCalls = async (setting: string | undefined, c: Case) =>
    (
      await withKernelCalls(MATRIX_PRODUCT, () =>
        withEnv('MCEVAL_WEBGPU_PRODUCTS', setting, async () => {
          for (const t of products(c, 1)) t.dispose();
        }),
      )
    ).calls;
  assert.equal(await kernelCalls(undefined, big), 1);
  assert.equal(await kernelCalls('transposed', big), 1);
  assert.equal(await kernelCalls('all', big), 3);
  assert.equal(await kernelCalls('tfjs', big), 0);
  assert.equal(await kernelCalls('all', few), 2);
  assert.equal(await kernelCalls('transposed', few), 2);
  assert.equal(await kernelCalls('tfjs', few), 0);
  assert.equal(await withEnv('MCEVAL_WEBGPU_FEW_ROWS', '0', () => kernelCalls('all', few)), 0);
});

test("tfjs's test of too few workgroups: its threshold by flag, else the GPU's, doubled for 8 rows or fewer", () => {
  const gpu = { thresholdToIncreaseWorkgroups: 8 };
  assert.equal(tfjsTilesProduct(gpu, -1, 64, 128), false, '2 × 4 tiles');
  assert.equal(tfjsTilesProduct(gpu, -1, 96, 96), true, '3 × 3 tiles');
  assert.equal(tfjsTilesProduct(gpu, 9, 96, 96), false, 'the flag raises it');
  assert.equal(tfjsTilesProduct({ thresholdToIncreaseWorkgroups: 16 }, -1, 96, 96), false, 'a newer Intel GPU');
  assert.equal(tfjsTilesProduct({}, -1, 96, 96), true, 'tfjs-webgpu without the field: 8');
  assert.equal(tfjsTilesProduct(gpu, -1, 8, 512), false, '16 tiles of 8 rows');
  assert.equal(tfjsTilesProduct(gpu, -1, 8, 544), true, '17 tiles of 8 rows');
  assert.equal(tfjsTilesProduct(gpu, -1, 512, 8), true, '16 tiles of 8 columns');
});

/** A frozen layer's operands: x, W, the residual and an upstream gradient dy. */
function residualOperands(): [Tensor2D, Tensor2D, Tensor2D, Tensor2D] {
  const rng = new Rng(23);
  const matrix = (rows: number, columns: number) =>
    tf.tensor2d(rng.normalArray(rows * columns), [rows, columns]) as Tensor2D;
  // 130 × 96 outputs: 15 tiles of 32 × 32, which tfjs would tile too.
  return [matrix(130, 64), matrix(64, 96), matrix(130, 96), matrix(130, 96)];
}

/** residual + x·W for a frozen W, and its gradients in x and the residual for the upstream dy, `calls` times. */
function* residualProducts(calls: number): Generator<Tensor> {
  const [x, w, residual, dy] = residualOperands();
  const loss = (input: Tensor, added: Tensor) => tf.sum(tf.mul(frozenLinearPlus(input, w, added), dy));
  for (let call = 0; call < calls; call++) {
    yield tf.tidy(() => frozenLinearPlus(x, w, residual));
    yield* tf.grads(loss)([x, residual]);
  }
  tf.dispose([x, w, residual, dy]);
}

/** The same three by tfjs's own ops: residual + x·W, dy·Wᵀ and dy. */
function* residualReferences(): Generator<Tensor> {
  const [x, w, residual, dy] = residualOperands();
  yield tf.tidy(() => tf.add(residual, tf.matMul(x, w)));
  yield tf.matMul(dy, w, false, true);
  yield dy;
  tf.dispose([x, w, residual]);
}

test("a frozen layer's residual is added inside its product, its gradients dy·Wᵀ and dy", async () => {
  const [expected, dxExpected, dResidualExpected] = await valuesOn('wasm', MATRIX_PRODUCT, residualReferences);
  const { value: values, calls } = await withKernelCalls(MATRIX_PRODUCT, () =>
    valuesOn('webgpu', MATRIX_PRODUCT, () => residualProducts(2)),
  );
  // Per call: the value, the value again under tf.grads, and dy·Wᵀ.
  assert.equal(calls, 6);
  assertAgree('residual + x·W', Array.from(values[0]!), Array.from(expected!), 1e-5);
  assertAgree('dx', Array.from(values[1]!), Array.from(dxExpected!), 1e-5);
  assert.deepEqual(values[2], dResidualExpected, "the residual's gradient is dy");
  assert.deepEqual(values.slice(3), values.slice(0, 3), 'the same bits the second time');
  const { calls: tfjsCalls } = await withKernelCalls(MATRIX_PRODUCT, () =>
    withEnv('MCEVAL_WEBGPU_PRODUCTS', 'tfjs', () => valuesOn('webgpu', MATRIX_PRODUCT, () => residualProducts(1))),
  );
  assert.equal(tfjsCalls, 0);
});

/** Three full fine-tuning steps of builtin:tiny (8 × 32 tokens: products of 256 rows) on a backend: their losses. */
async function fullFineTuningLosses(backend: 'wasm' | 'webgpu'): Promise<number[]> {
  await initEngine(backend);
  const model = loadModel('builtin:tiny').model;
  const before = tf.memory().numTensors;
  const run = causalLmStep(model, fullFineTuningMethod, {}, { batch: 8, length: 32, seed: 5 });
  const losses = [await run.step(), await run.step(), await run.step()];
  run.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
  return losses;
}

test('a full fine-tuning step gives the same losses under each MCEVAL_WEBGPU_PRODUCTS, and agrees with wasm', async () => {
  const expected = await fullFineTuningLosses('wasm');
  const bySetting: Record<string, number[]> = {};
  for (const setting of ['transposed', 'all', 'tfjs']) {
    const { value, calls } = await withKernelCalls(MATRIX_PRODUCT, () =>
      withEnv('MCEVAL_WEBGPU_PRODUCTS', setting, () => fullFineTuningLosses('webgpu')),
    );
    assert.equal(calls > 0, setting !== 'tfjs', `${setting}: the kernel ran ${calls} times`);
    bySetting[setting] = value;
  }
  assert.deepEqual(bySetting['all'], bySetting['transposed']);
  assert.deepEqual(bySetting['tfjs'], bySetting['transposed']);
  bySetting['transposed']!.forEach((loss, i) =>
    assert.ok(Math.abs(loss - expected[i]!) <= 2e-4 * Math.abs(expected[i]!), `step ${i}: ${loss} vs ${expected[i]}`),
  );
});
