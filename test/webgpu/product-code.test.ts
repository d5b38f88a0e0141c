/**
 * The product tiles' other ways of writing their WGSL against the default (loops, no prefetch;
 * low-rank-product-wgsl.ts): the inner step written out (MCEVAL_WEBGPU_PRODUCT_CODE=unrolled), the operands' next inner
 * indices read ahead into registers (MCEVAL_WEBGPU_PRODUCT_PREFETCH=on), and both. Each is the same operations in the
 * same order, so training steps that run every tiled kernel (the low-rank product, inline and apart, a group's outputs
 * and input gradient, the matrix product of DoRA's split layers), and an evaluation after them that reads x normalized
 * or gated as it loads it, give the same losses bit for bit; a single layer at sizes that are no multiple of 4 (scalar
 * loads) gives the same output and gradients at both tiles (64 × 64 and 128 × 128, whose two blocks a side the steps'
 * 64-wide tiles leave out: its compiling takes lavapipe a minute a step). Each case checks that every shader that ran
 * on the tiles by default ran written the other way, and none did by default.
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
import { withDispatchedPrograms } from './dispatches.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { keepThreshold } from '../../src/engine/dropout-bits.js';
import { drawKey } from '../../src/engine/counter-hash.js';
import { requireDecoder, type Model } from '../../src/models/model.js';
import { causalLmLoss } from '../../src/train/loss.js';
import { EVAL_CONTEXT } from '../../src/models/forward-context.js';

/** A way of writing the tiles: its settings, and a line of WGSL only a tile written that way has. */
interface Code {
  readonly name: string;
  readonly settings: Readonly<Record<string, string>>;
  readonly marks: readonly string[];
}

// Written out, the inner step names its accumulators by constants; prefetched, the next indices have registers.
const UNROLLED = 'acc[0] += a0.x * b0;';
const PREFETCHED = 'var next0 : array<vec4<f32>, BLOCKS>;';
const DEFAULT: Code = { name: 'loops', settings: {}, marks: [] };
const CODES: readonly Code[] = [
  { name: 'unrolled', settings: { MCEVAL_WEBGPU_PRODUCT_CODE: 'unrolled' }, marks: [UNROLLED] },
  { name: 'prefetched', settings: { MCEVAL_WEBGPU_PRODUCT_PREFETCH: 'on' }, marks: [PREFETCHED] },
  {
    name: 'unrolled and prefetched',
    settings: { MCEVAL_WEBGPU_PRODUCT_CODE: 'unrolled', MCEVAL_WEBGPU_PRODUCT_PREFETCH: 'on' },
    marks: [UNROLLED, PREFETCHED],
  },
];

/** `body` with each of `settings` set (and unset after). */
const withSettings = <T>(settings: Readonly<Record<string, string>>, body: () => Promise<T>): Promise<T> =>
  Object.entries(settings).reduceRight<() => Promise<T>>(
    (inner, [name, value]) =>
      () =>
        withEnv(name, value, inner),
    body,
  )();

/**
 * What ran on the tiles while a body ran: the shaders (their keys without the tiling's digits, low-rank-product.ts's
 * tilingKey), those whose WGSL had every mark of a way of writing them (`marked`) or any (`anyMark`), and the ways
 * their x was formed as it was read (`reads`: RMS-normalized, SwiGLU's gating).
 */
interface Tiled {
  readonly shaders: Set<string>;
  readonly marked: Set<string>;
  readonly anyMark: Set<string>;
  readonly reads: Set<string>;
}

/** `body`'s value under `code` and the tiled shaders it dispatched. */
async function withTiledKernels<T>(code: Code, body: () => Promise<T>): Promise<{ value: T } & Tiled> {
  const tiled: Tiled = { shaders: new Set(), marked: new Set(), anyMark: new Set(), reads: new Set() };
  const value = await withSettings(code.settings, () =>
    withDispatchedPrograms((program) => {
      const wgsl = program.getUserCode?.() ?? '';
      // The tiles' inner loop, however the rest is written.
      if (!wgsl.includes('for (var kk = 0; kk < TK; kk++)')) return;
      // The tiling's digits end mceval's part of the key, before tfjs's (workgroup size, dtypes, …).
      const shader = (program.shaderKey ?? '').replace(/_[01]{3}(_\d+,)/, '$1');
      tiled.shaders.add(shader);
      if (code.marks.every((mark) => wgsl.includes(mark))) tiled.marked.add(shader);
      if ([UNROLLED, PREFETCHED].some((mark) => wgsl.includes(mark))) tiled.anyMark.add(shader);
      for (const read of ['normalizedInput', 'gatedInput']) if (wgsl.includes(`fn ${read}(`)) tiled.reads.add(read);
    }, body),
  );
  return { value, ...tiled };
}

/**
 * Every tiled shader that ran by default ran written as `other` is (and by default, none was written otherwise), the
 * `expected` kernels (keys before their first `_`) and ways of reading x among them.
 */
function assertWrittenSo(loops: Tiled, other: Tiled, expected: readonly string[], reads: readonly string[] = []): void {
  assert.deepEqual([...loops.anyMark], []);
  assert.deepEqual([...other.marked].sort(), [...loops.shaders].sort());
  assert.deepEqual([...other.shaders].sort(), [...loops.shaders].sort());
  const kernels = new Set([...loops.shaders].map((shader) => shader.split('_')[0]));
  for (const kernel of expected) assert.ok(kernels.has(kernel), `${kernel} ran`);
  for (const read of reads) assert.ok(loops.reads.has(read), `x read by ${read}`);
}

/**
 * The adapted model's next-token loss on 48 tokens outside training: off the tape, its layers read x RMS-normalized or
 * gated as they load it, on the tiles (48 rows: more than the few-rows shader takes, one tile of rows).
 */
async function evaluationLoss(model: Model): Promise<number> {
  const rng = new Rng(11);
  const ids = Int32Array.from({ length: 48 }, () => 1 + rng.integer(model.config.vocabSize - 1));
  const batch = { batchSize: 1, length: 48, ids, mask: new Int32Array(48).fill(1) };
  const loss = tf.tidy(() => causalLmLoss(requireDecoder(model, 'The product code test'), batch, EVAL_CONTEXT));
  const [value] = await loss.data();
  loss.dispose();
  return value!;
}

/**
 * Three steps' losses of `method` on builtin:tiny (80 tokens: the tiles, not the few-rows shader) under `code`, then
 * the adapted model's evaluation loss.
 */
async function losses(method: Method, code: Code): Promise<{ value: number[] } & Tiled> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const { model } = loadModel('builtin:tiny');
  const run = stepper(model, 2, 40, 3, method);
  try {
    return await withTiledKernels(code, async () => [
      await run.step(),
      await run.step(),
      await run.step(),
      await evaluationLoss(model),
    ]);
  } finally {
    run.dispose();
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  }
}

// The products' kernels each step runs on its tiles: the inline products (narrow products inside) and, where the
// device binds three layers in one shader, a group's outputs and input gradient (lora-dropout); the low-rank product
// beside its own narrow products and DoRA's split layers' matrix products (dora). Evaluating, the inline products read
// the gating, and where a group binds, a normalized x (lora-dropout).
const STEP_CASES = [
  { method: 'lora-dropout', inline: 'always', kernels: ['McevalLowRankProductInline'], groups: true },
  { method: 'dora', inline: 'never', kernels: ['McevalLowRankProduct', 'McevalMatrixProduct'], groups: false },
] as const;

for (const { method, inline, kernels, groups } of STEP_CASES)
  test(`${method} steps (inline ${inline}) lose the same bits with the products written each way`, async () => {
    const settled = (code: Code) => withEnv('MCEVAL_WEBGPU_INLINE_NARROW', inline, () => losses(method, code));
    const loops = await settled(DEFAULT);
    // A group of three binds x, four buffers a member and two more outputs (at WebGPU's default limits, 8: none).
    const binds = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike) >= 15;
    const grouped = groups && binds ? ['McevalLowRankProductGroup', 'McevalLowRankGradientGroup'] : [];
    const reads = groups ? ['gatedInput', ...(binds ? ['normalizedInput'] : [])] : [];
    for (const code of CODES) {
      const other = await settled(code);
      assert.deepEqual(other.value, loops.value, code.name);
      assertWrittenSo(loops, other, [...kernels, ...grouped], reads);
    }
  });

/** A 37 → 77 layer of rank 5 with dropout and a perturbation: its output and every gradient (scalar loads). */
async function oddLayer(code: Code): Promise<{ value: number[][] } & Tiled> {
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
    return await withTiledKernels(code, async () => {
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
  test(`a layer read by scalar loads gives the same output and gradients with its products written each way (tile ${tile})`, async () => {
    const layer = (code: Code) => withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, () => oddLayer(code));
    const loops = await layer(DEFAULT);
    for (const code of CODES) {
      const other = await layer(code);
      assert.deepEqual(other.value, loops.value, code.name);
      assertWrittenSo(loops, other, ['McevalLowRankProduct']);
    }
  });

for (const setting of ['MCEVAL_WEBGPU_PRODUCT_CODE', 'MCEVAL_WEBGPU_PRODUCT_PREFETCH'])
  test(`an unknown ${setting} stops the engine with one line`, async () => {
    await withEnv(setting, 'fast', async () => assert.rejects(() => initEngine('wasm'), new RegExp(`${setting}=fast`)));
  });
