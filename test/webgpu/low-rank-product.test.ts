/**
 * The WGSL low-rank product (engine/kernels/webgpu/low-rank-product.ts) through engine/ops/low-rank-linear.ts against
 * the same op on wasm (tfjs ops) from the same inputs: the output of x·W + b + s·((m ⊙ x)·(A + P))·B (+ a residual) and
 * the gradients for x, A, B, P and the residual, with and without bias, dropout (its mask made inside the kernels on
 * webgpu, by the host's loop on wasm), perturbation and residual, at sizes that are not multiples of the kernel's
 * output tile (64 × 64, and 128 × 128 by MCEVAL_WEBGPU_PRODUCT_TILE) or its 16-wide inner step (and ones that span
 * several tiles), with scalar and vec4 loads. Each vectorized case runs twice on webgpu: with the narrow products
 * (m ⊙ x)·A and s·dy·Bᵀ formed inside the product (MCEVAL_WEBGPU_INLINE_NARROW=always; the case checks that the
 * inline kernel ran) and by dispatches of their own (`never`). Agreement within 1e-5 of the largest value: float32
 * sums taken in another order. Leaves no tensor behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { lowRankLinear, lowRankLinears } from '../../src/engine/ops/low-rank-linear.js';
import { assertAgree } from './agreement.js';
import { normalMatrices } from './random-matrix.js';
import { deviceWithLimits } from './device-limits.js';
import { withEnv } from '../helpers.js';
import { keepThreshold } from '../../src/engine/dropout-bits.js';
import { drawKey } from '../../src/engine/counter-hash.js';
import {
  LOW_RANK_PRODUCT,
  LOW_RANK_PRODUCT_INLINE,
  inlinesNarrowProduct,
} from '../../src/engine/kernels/webgpu/low-rank-product.js';
import type { WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';

interface Case {
  readonly tokens: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly rank: number;
  readonly bias: boolean;
  readonly mask: boolean;
  readonly perturbation: boolean;
  /** A residual stream [2, tokens, out] added to the output (a decoder's o_proj and down_proj). */
  readonly residual?: boolean;
}

const CASES: Case[] = [
  { tokens: 7, inFeatures: 37, outFeatures: 45, rank: 5, bias: true, mask: true, perturbation: true, residual: true },
  { tokens: 130, inFeatures: 96, outFeatures: 200, rank: 8, bias: false, mask: false, perturbation: false },
  { tokens: 65, inFeatures: 17, outFeatures: 64, rank: 20, bias: false, mask: true, perturbation: false },
  // Multiples of 4: the vectorized shader (vec4 loads), here with every option.
  {
    tokens: 70,
    inFeatures: 64,
    outFeatures: 132,
    rank: 12,
    bias: true,
    mask: true,
    perturbation: true,
    residual: true,
  },
  // Several 128 × 128 tiles with ragged edges, vectorized and not.
  { tokens: 150, inFeatures: 68, outFeatures: 260, rank: 8, bias: true, mask: false, perturbation: false },
  { tokens: 97, inFeatures: 33, outFeatures: 131, rank: 3, bias: false, mask: true, perturbation: false },
  // The inline narrow product at its widest rank (16) and its narrowest (4), several tiles down and one across.
  { tokens: 140, inFeatures: 48, outFeatures: 72, rank: 16, bias: false, mask: true, perturbation: false },
  { tokens: 33, inFeatures: 20, outFeatures: 8, rank: 4, bias: true, mask: false, perturbation: true, residual: true },
];

const vectorized = (c: Case) => [c.inFeatures, c.outFeatures, c.rank].every((size) => size % 4 === 0);

interface Outcome {
  readonly arrays: number[][];
  /** The kernels the forward and backward pass ran. */
  readonly kernels: string[];
}

async function run(backend: 'wasm' | 'webgpu', c: Case): Promise<Outcome> {
  await initEngine(backend);
  if (backend === 'webgpu') assert.ok(tf.getKernel(LOW_RANK_PRODUCT, 'webgpu'), 'the webgpu kernel is registered');
  const before = tf.memory().numTensors;
  const rng = new Rng(5);
  const matrix = normalMatrices(rng);
  // x is [2, tokens, in]: the op flattens leading axes.
  const x = tf.tensor3d(rng.normalArray(2 * c.tokens * c.inFeatures), [2, c.tokens, c.inFeatures]);
  const weight = matrix(c.inFeatures, c.outFeatures);
  const bias = c.bias ? tf.tensor1d(rng.normalArray(c.outFeatures)) : undefined;
  const a = matrix(c.inFeatures, c.rank);
  const b = matrix(c.rank, c.outFeatures);
  const p = matrix(c.inFeatures, c.rank);
  const dropout = c.mask
    ? { key: drawKey(rng.nextUint32()), threshold: keepThreshold(0.8), scale: 1 / 0.8 }
    : undefined;
  const dy = tf.tensor3d(rng.normalArray(2 * c.tokens * c.outFeatures), [2, c.tokens, c.outFeatures]);
  const residual = tf.tensor3d(rng.normalArray(2 * c.tokens * c.outFeatures), [2, c.tokens, c.outFeatures]);
  const inputs = [x, a, b, ...(c.perturbation ? [p] : []), ...(c.residual ? [residual] : [])];
  const forward = (...args: Tensor[]) =>
    lowRankLinear(
      args[0]!,
      weight,
      bias,
      {
        a: args[1] as Tensor2D,
        b: args[2] as Tensor2D,
        scaling: 1.75,
        ...(dropout === undefined ? {} : { dropout }),
        ...(c.perturbation ? { perturbation: args[3] as Tensor2D } : {}),
      },
      c.residual ? args[args.length - 1] : undefined,
    );
  let step: { value: Tensor; grads: Tensor[] } | undefined;
  const profile = await tf.profile(() => {
    step = tf.valueAndGrads((...args: Tensor[]) => tf.sum(tf.mul(forward(...args), dy)))(inputs);
  });
  const { value, grads } = step!;
  const out = tf.tidy(() => forward(...inputs));
  const arrays = await Promise.all([out, ...grads].map((t) => t.data()));
  tf.dispose([x, weight, a, b, p, dy, residual, value, out, ...grads, ...(bias ? [bias] : [])]);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the op`);
  return {
    arrays: arrays.map((array) => Array.from(array as Float32Array)),
    kernels: profile.kernels.map((kernel) => kernel.name),
  };
}

/** How many of the case's two products (forward, input gradient) this device can form inline under `tile`. */
async function inlinesOnDevice(c: Case, tile: string): Promise<number> {
  await initEngine('webgpu');
  const gpu = tf.backend() as unknown as WebGpuBackendLike;
  const rows = 2 * c.tokens;
  const products = [
    { inner: c.inFeatures, columns: c.outFeatures, inputMask: c.mask, others: Number(c.bias) + Number(!!c.residual) },
    { inner: c.outFeatures, columns: c.inFeatures, inputMask: false, others: 0 },
  ];
  return withEnv('MCEVAL_WEBGPU_INLINE_NARROW', 'always', () =>
    withEnv(
      'MCEVAL_WEBGPU_PRODUCT_TILE',
      tile,
      () => products.filter((p) => inlinesNarrowProduct(gpu, { rows, rank: c.rank, ...p })).length,
    ),
  );
}

for (const tile of ['64', '128'])
  for (const c of CASES)
    for (const inline of vectorized(c) ? ['always', 'never'] : ['always']) {
      const options = [c.bias && 'bias', c.mask && 'dropout', c.perturbation && 'perturbation', `inline ${inline}`];
      const name = `${c.tokens}×${c.inFeatures}→${c.outFeatures}, r ${c.rank}, ${options.filter(Boolean).join(', ')}`;
      test(`webgpu low-rank product (tile ${tile}) agrees with wasm: ${name}`, async () => {
        const reference = await run('wasm', c);
        const candidate = await withEnv('MCEVAL_WEBGPU_INLINE_NARROW', inline, () =>
          withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, () => run('webgpu', c)),
        );
        // Forward and backward each: inline where the shapes allow, the setting asks and the device binds it (its
        // limits: at WebGPU's minimums, MCEVAL_WEBGPU_LIMITS=default, some of these cases form x·A apart).
        const inlined = candidate.kernels.filter((kernel) => kernel === LOW_RANK_PRODUCT_INLINE).length;
        assert.equal(inlined, vectorized(c) && inline === 'always' ? await inlinesOnDevice(c, tile) : 0);
        ['output', 'dx', 'dA', 'dB', ...(c.perturbation ? ['dP'] : []), ...(c.residual ? ['dResidual'] : [])]
          .slice(0, reference.arrays.length)
          .forEach((label, i) => assertAgree(label, candidate.arrays[i]!, reference.arrays[i]!, 1e-5));
      });
    }

test('the narrow product is formed inline for the shapes, memory and sizes that allow it', async () => {
  const gpu = deviceWithLimits(16, 32768);
  const shape = { rows: 256, inner: 768, columns: 768, rank: 8, inputMask: true, others: 0 };
  assert.equal(inlinesNarrowProduct(gpu, shape), true);
  // x, w, n, e, down, the output and `others` (the input mask binds none: it is made in the shader): at WebGPU's
  // minimum of 8 storage buffers, two others.
  const eight = deviceWithLimits(8, 32768);
  assert.equal(inlinesNarrowProduct(eight, { ...shape, others: 2 }), true);
  assert.equal(inlinesNarrowProduct(eight, { ...shape, others: 3 }), false);
  assert.equal(inlinesNarrowProduct(eight, { ...shape, inputMask: false, others: 2 }), true);
  assert.equal(inlinesNarrowProduct(gpu, { ...shape, others: 3 }), true);
  // Not a multiple of 4, wider than 16.
  assert.equal(inlinesNarrowProduct(gpu, { ...shape, rank: 6 }), false);
  assert.equal(inlinesNarrowProduct(gpu, { ...shape, inner: 770 }), false);
  assert.equal(inlinesNarrowProduct(gpu, { ...shape, rank: 20 }), false);
  // 64 × 64 tiles at r 16 with an input mask take 13 KiB of workgroup memory: the WebGPU minimum of 16 KiB holds them.
  const small = (bytes: number) => deviceWithLimits(16, bytes);
  assert.equal(inlinesNarrowProduct(small(16384), { ...shape, rank: 16 }), true);
  assert.equal(inlinesNarrowProduct(small(12288), { ...shape, rank: 16 }), false);
  // `auto` up to 2³¹ multiply-adds for the one dispatch it saves; `always` and `never` regardless.
  const large = { ...shape, rows: 2048, inner: 2048, columns: 2048 };
  assert.equal(inlinesNarrowProduct(gpu, { ...large, rows: 512 }), true);
  assert.equal(inlinesNarrowProduct(gpu, large), false);
  // Up to that times the dispatches inlining saves: builtin:medium's gate at 8 × 256 tokens, 2.25 × 2³¹, inline only
  // where it saves three (a split layer's rest and scaling alongside), not two.
  const gate = { ...shape, rows: 2048, inner: 768, columns: 3072 };
  assert.equal(inlinesNarrowProduct(gpu, { ...gate, dispatchesSaved: 2 }), false);
  assert.equal(inlinesNarrowProduct(gpu, { ...gate, dispatchesSaved: 3 }), true);
  await withEnv('MCEVAL_WEBGPU_INLINE_NARROW', 'never', () =>
    assert.equal(inlinesNarrowProduct(gpu, { ...shape, dispatchesSaved: 4 }), false),
  );
  await withEnv('MCEVAL_WEBGPU_INLINE_NARROW', 'always', () => assert.equal(inlinesNarrowProduct(gpu, large), true));
  await withEnv('MCEVAL_WEBGPU_INLINE_NARROW', 'never', () => assert.equal(inlinesNarrowProduct(gpu, shape), false));
});

/** Three layers reading one x (a decoder's q, k, v: dropout on the first, a residual on the last) as one op. */
async function runGroup(backend: 'wasm' | 'webgpu'): Promise<number[][]> {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const rng = new Rng(8);
  const matrix = normalMatrices(rng);
  const [tokens, inFeatures, rank] = [70, 64, 8];
  const widths = [96, 32, 96];
  const x = matrix(tokens, inFeatures);
  const dropout = { key: drawKey(9), threshold: keepThreshold(0.8), scale: 1 / 0.8 };
  const weights = widths.map((width) => matrix(inFeatures, width));
  const factors = widths.flatMap((width) => [matrix(inFeatures, rank), matrix(rank, width)]);
  const residual = matrix(tokens, widths[2]!);
  const upstreams = widths.map((width) => matrix(tokens, width));
  const layers = (t: Tensor[]) =>
    widths.map((_, l) => ({
      weight: weights[l]!,
      update: {
        a: t[1 + 2 * l] as Tensor2D,
        b: t[2 + 2 * l] as Tensor2D,
        scaling: 1 + l,
        ...(l === 0 ? { dropout } : {}),
      },
      ...(l === 2 ? { residual } : {}),
    }));
  const inputs = [x, ...factors];
  const loss = (...t: Tensor[]) =>
    tf.addN(lowRankLinears(t[0]!, layers(t)).map((output, l) => tf.sum(tf.mul(output, upstreams[l]!))));
  const { value, grads } = tf.valueAndGrads(loss)(inputs);
  const outputs = tf.tidy(() => lowRankLinears(x, layers(inputs)));
  const arrays = await Promise.all([...outputs, ...grads].map((t) => t.data()));
  tf.dispose([...inputs, residual, value, ...weights, ...upstreams, ...outputs, ...grads]);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the op`);
  return arrays.map((array) => Array.from(array as Float32Array));
}

for (const inline of ['always', 'never'])
  test(`webgpu: layers reading one x as one op (x's gradient summed in the products), inline ${inline}`, async () => {
    const reference = await runGroup('wasm');
    const candidate = await withEnv('MCEVAL_WEBGPU_INLINE_NARROW', inline, () => runGroup('webgpu'));
    const labels = ['q', 'k', 'v + residual', 'dx', 'dA q', 'dB q', 'dA k', 'dB k', 'dA v', 'dB v'];
    labels.forEach((label, i) => assertAgree(label, candidate[i]!, reference[i]!, 1e-5));
  });
