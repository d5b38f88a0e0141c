/**
 * The WGSL low-rank product (engine/kernels/webgpu/low-rank-product.ts) through engine/ops/low-rank-linear.ts against
 * the same op on wasm (tfjs ops) from the same inputs: the output of x·W + b + s·((m ⊙ x)·(A + P))·B and the gradients
 * for x, A, B and P, with and without bias, dropout mask and perturbation, at sizes that are not multiples of the
 * kernel's output tile (64 × 64, and 128 × 128 by MCEVAL_WEBGPU_PRODUCT_TILE) or its 16-wide inner step (and ones that
 * span several tiles), with scalar and vec4 loads.
 * Agreement within 1e-5 of the largest value: float32 sums taken in another order. Leaves no tensor behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { lowRankLinear } from '../../src/engine/ops/low-rank-linear.js';
import { assertAgree } from './agreement.js';
import { withEnv } from '../helpers.js';
import { keepMaskReference, keepThreshold } from '../../src/engine/dropout-bits.js';
import { drawKey } from '../../src/engine/counter-hash.js';
import { LOW_RANK_PRODUCT } from '../../src/engine/kernels/webgpu/low-rank-product.js';

interface Case {
  readonly tokens: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly rank: number;
  readonly bias: boolean;
  readonly mask: boolean;
  readonly perturbation: boolean;
}

const CASES: Case[] = [
  { tokens: 7, inFeatures: 37, outFeatures: 45, rank: 5, bias: true, mask: true, perturbation: true },
  { tokens: 130, inFeatures: 96, outFeatures: 200, rank: 8, bias: false, mask: false, perturbation: false },
  { tokens: 65, inFeatures: 17, outFeatures: 64, rank: 20, bias: false, mask: true, perturbation: false },
  // Multiples of 4: the vectorized shader (vec4 loads), here with every option.
  { tokens: 70, inFeatures: 64, outFeatures: 132, rank: 12, bias: true, mask: true, perturbation: true },
  // Several 128 × 128 tiles with ragged edges, vectorized and not.
  { tokens: 150, inFeatures: 68, outFeatures: 260, rank: 8, bias: true, mask: false, perturbation: false },
  { tokens: 97, inFeatures: 33, outFeatures: 131, rank: 3, bias: false, mask: true, perturbation: false },
];

async function run(backend: 'wasm' | 'webgpu', c: Case): Promise<number[][]> {
  await initEngine(backend);
  if (backend === 'webgpu') assert.ok(tf.getKernel(LOW_RANK_PRODUCT, 'webgpu'), 'the webgpu kernel is registered');
  const before = tf.memory().numTensors;
  const rng = new Rng(5);
  const matrix = (rows: number, columns: number) => tf.tensor2d(rng.normalArray(rows * columns), [rows, columns]);
  // x is [2, tokens, in]: the op flattens leading axes.
  const x = tf.tensor3d(rng.normalArray(2 * c.tokens * c.inFeatures), [2, c.tokens, c.inFeatures]);
  const weight = matrix(c.inFeatures, c.outFeatures);
  const bias = c.bias ? tf.tensor1d(rng.normalArray(c.outFeatures)) : undefined;
  const a = matrix(c.inFeatures, c.rank);
  const b = matrix(c.rank, c.outFeatures);
  const p = matrix(c.inFeatures, c.rank);
  const mask = c.mask
    ? tf.tensor3d(
        keepMaskReference(drawKey(rng.nextUint32()), keepThreshold(0.8), 1 / 0.8, x.size),
        x.shape as [number, number, number],
      )
    : undefined;
  const dy = tf.tensor3d(rng.normalArray(2 * c.tokens * c.outFeatures), [2, c.tokens, c.outFeatures]);
  const inputs = [x, a, b, ...(c.perturbation ? [p] : [])];
  const forward = (...args: Tensor[]) =>
    lowRankLinear(args[0]!, weight, bias, {
      a: args[1] as Tensor2D,
      b: args[2] as Tensor2D,
      scaling: 1.75,
      ...(mask === undefined ? {} : { mask }),
      ...(c.perturbation ? { perturbation: args[3] as Tensor2D } : {}),
    });
  const { value, grads } = tf.valueAndGrads((...args: Tensor[]) => tf.sum(tf.mul(forward(...args), dy)))(inputs);
  const out = tf.tidy(() => forward(...inputs));
  const arrays = await Promise.all([out, ...grads].map((t) => t.data()));
  tf.dispose([x, weight, a, b, p, dy, value, out, ...grads, ...(bias ? [bias] : []), ...(mask ? [mask] : [])]);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the op`);
  return arrays.map((array) => Array.from(array as Float32Array));
}

for (const tile of ['64', '128'])
  for (const c of CASES) {
    const name = `${c.tokens}×${c.inFeatures}→${c.outFeatures}, r ${c.rank}${c.bias ? ', bias' : ''}${c.mask ? ', dropout' : ''}${c.perturbation ? ', perturbation' : ''}`;
    test(`webgpu low-rank product (tile ${tile}) agrees with wasm: ${name}`, async () => {
      const reference = await run('wasm', c);
      const candidate = await withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, () => run('webgpu', c));
      ['output', 'dx', 'dA', 'dB', 'dP']
        .slice(0, reference.length)
        .forEach((label, i) => assertAgree(label, candidate[i]!, reference[i]!, 1e-5));
    });
  }
