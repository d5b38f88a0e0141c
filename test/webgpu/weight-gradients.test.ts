/**
 * The split weight-gradient kernel (engine/kernels/webgpu/weight-gradients.ts) through lowRankWeightGradients against
 * the same op on wasm (the transposed-product kernel after the mask's multiplication): dA = (m ⊙ x)ᵀ·dDown and dB =
 * s·downᵀ·dy, with and without dropout (its mask made in the kernel on webgpu), with scalar and vec4 loads, at token
 * counts of one chunk and of many (the last one short), and at widths off the kernel's tiles. Agreement within 1e-5 of
 * the largest value (float32 sums in another order); on webgpu the same call twice gives the same bits (the chunks are
 * added in a fixed order), and the partial sums' buffer is released. Layers that read one x (a decoder layer's q, k and
 * v) likewise, all at once: each with its own rank, width, mask or none and scale, in two dispatches where one shader
 * binds them all, and in runs of two dispatches each where it cannot — one each where every product is one chunk, the
 * same bits as the second pass gives (under joins by shaders). Where each product's workgroups and outputs start
 * is beyond these checks: with every start at 0 the same values come out, from fewer and busier workgroups.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { dispatchesOf } from './dispatches.js';
import { tf } from '../../src/engine/tf.js';
import {
  layersWeightGradients,
  lowRankWeightGradients,
  type LayerGradientOperands,
} from '../../src/engine/ops/low-rank-weight-gradients.js';
import { productPlan } from '../../src/engine/kernels/webgpu/weight-gradients-wgsl.js';
import { LOW_RANK_WEIGHT_GRADIENTS } from '../../src/engine/kernels/webgpu/weight-gradients.js';
import { assertAgree } from './agreement.js';
import { normalMatrices } from './random-matrix.js';
import { keepThreshold } from '../../src/engine/dropout-bits.js';
import { drawKey } from '../../src/engine/counter-hash.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { valuesOn } from './values-on.js';
import { withEnv } from '../helpers.js';

interface Case {
  readonly tokens: number;
  readonly inFeatures: number;
  readonly rank: number;
  readonly outFeatures: number;
  readonly mask: boolean;
  /** dB's scale (the update's scaling). */
  readonly dyScale: number;
}

const CASES: Case[] = [
  // Scalar loads (widths not multiples of 4), a single chunk.
  { tokens: 7, inFeatures: 37, rank: 5, outFeatures: 45, mask: true, dyScale: 1.75 },
  { tokens: 97, inFeatures: 33, rank: 3, outFeatures: 131, mask: false, dyScale: 1 },
  // vec4 loads; 1,000 tokens make 32 chunks of 32, the last of 8.
  { tokens: 1000, inFeatures: 64, rank: 8, outFeatures: 132, mask: true, dyScale: 0.5 },
  // Several tiles along the wide side, with a ragged edge; a rank of 16 (a wider narrow side).
  { tokens: 300, inFeatures: 260, rank: 16, outFeatures: 516, mask: false, dyScale: 2 },
  // builtin:medium's widths.
  { tokens: 512, inFeatures: 768, rank: 8, outFeatures: 3072, mask: true, dyScale: 2 },
];

function* gradients(c: Case, calls: number) {
  const rng = new Rng(11);
  const matrix = normalMatrices(rng);
  const x = matrix(c.tokens, c.inFeatures);
  const dDown = matrix(c.tokens, c.rank);
  const down = matrix(c.tokens, c.rank);
  const dy = matrix(c.tokens, c.outFeatures);
  const hash = { key: drawKey(rng.nextUint32()), threshold: keepThreshold(0.8), scale: 1 / 0.8 };
  const dropout = c.mask ? { hash } : undefined;
  for (let call = 0; call < calls; call++) {
    // In a tidy, as in the gradient function: the composed path's mask and masked x are intermediates.
    yield* tf.tidy(() => lowRankWeightGradients({ x, dDown, down, dy, dyScale: c.dyScale, dropout }));
  }
  tf.dispose([x, dDown, down, dy]);
}

/** Bytes of GPU buffers in use (tfjs-webgpu's count: tensors and kernels' own buffers alike). */
const gpuBytes = () => (tf.memory() as unknown as { numBytesInGPU: number }).numBytesInGPU;

for (const c of CASES) {
  const plans = [productPlan(c.inFeatures, c.rank, c.tokens), productPlan(c.rank, c.outFeatures, c.tokens)];
  const chunks = plans.map((plan) => plan.splits).join(' and ');
  const name = `${c.tokens} tokens, ${c.inFeatures} → r ${c.rank} → ${c.outFeatures}${c.mask ? ', mask' : ''}, s ${c.dyScale}`;
  test(`webgpu weight gradients (${chunks} chunks) agree with wasm: ${name}`, async () => {
    const [dA, dB] = await valuesOn('wasm', LOW_RANK_WEIGHT_GRADIENTS, () => gradients(c, 1));
    await initEngine('webgpu');
    const bytesBefore = gpuBytes();
    const [firstA, firstB, againA, againB] = await valuesOn('webgpu', LOW_RANK_WEIGHT_GRADIENTS, () => gradients(c, 2));
    assertAgree('dA', Array.from(firstA!), Array.from(dA!), 1e-5);
    assertAgree('dB', Array.from(firstB!), Array.from(dB!), 1e-5);
    assert.deepEqual(againA, firstA, 'dA is the same bits the second time');
    assert.deepEqual(againB, firstB, 'dB is the same bits the second time');
    assert.equal(gpuBytes(), bytesBefore, 'the partial sums are released');
  });
}

/** One layer of several reading x [tokens, 64]: its rank, output width, whether it has a mask, and its scale. */
interface SharedLayer {
  readonly rank: number;
  readonly outFeatures: number;
  readonly mask: boolean;
  readonly dyScale: number;
}

/** q, k and v of a small decoder layer, and a fourth layer (with 8 storage buffers, two runs of two layers). */
const SHARED: SharedLayer[] = [
  { rank: 8, outFeatures: 64, mask: true, dyScale: 2 },
  { rank: 8, outFeatures: 32, mask: false, dyScale: 0.5 },
  { rank: 4, outFeatures: 132, mask: true, dyScale: 1.5 },
  { rank: 8, outFeatures: 48, mask: true, dyScale: 1 },
];

/** [dA, dB] of each of `layers` (reading one x of `inFeatures`) from one layersWeightGradients call, as it yields. */
function* sharedGradients(layers: readonly SharedLayer[], tokens: number, inFeatures: number) {
  const rng = new Rng(17);
  const matrix = normalMatrices(rng);
  const x = matrix(tokens, inFeatures);
  const operands: LayerGradientOperands[] = layers.map((layer) => ({
    dDown: matrix(tokens, layer.rank),
    down: matrix(tokens, layer.rank),
    dy: matrix(tokens, layer.outFeatures),
    dyScale: layer.dyScale,
    dropout: layer.mask
      ? { hash: { key: drawKey(rng.nextUint32()), threshold: keepThreshold(0.8), scale: 1 / 0.8 } }
      : undefined,
  }));
  yield* tf.tidy(() => layersWeightGradients(x, operands).flat());
  tf.dispose([x, ...operands.flatMap(({ dDown, down, dy }) => [dDown, down, dy])]);
}

for (const [count, tokens, inFeatures] of [
  [3, 200, 64],
  [4, 45, 62],
  // Every product one chunk: the first pass's results are the gradients (no second pass).
  [3, 24, 64],
] as const) {
  const layers = SHARED.slice(0, count);
  test(`webgpu weight gradients of ${count} layers on one x (${tokens} × ${inFeatures}) agree with wasm`, async () => {
    const expected = await valuesOn('wasm', LOW_RANK_WEIGHT_GRADIENTS, () =>
      sharedGradients(layers, tokens, inFeatures),
    );
    const actual = await valuesOn('webgpu', LOW_RANK_WEIGHT_GRADIENTS, () =>
      sharedGradients(layers, tokens, inFeatures),
    );
    assert.equal(actual.length, 2 * count);
    actual.forEach((values, i) =>
      assertAgree(`layer ${i >> 1} ${i % 2 === 0 ? 'dA' : 'dB'}`, Array.from(values), Array.from(expected[i]!), 1e-5),
    );
    // Two dispatches for every run of layers one shader binds (x and the partials, then per layer 3 operands; masks
    // bind none), one where every product is one chunk.
    const bindable = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
    const perRun = Math.floor((bindable - 2) / 3);
    const runs = Math.ceil(layers.length / perRun);
    const whole = layers.every(
      (layer) =>
        productPlan(inFeatures, layer.rank, tokens).splits === 1 &&
        productPlan(layer.rank, layer.outFeatures, tokens).splits === 1,
    );
    assert.equal(whole, tokens <= 32);
    const dispatches = dispatchesOf('McevalWeightGradient', () => {
      for (const t of sharedGradients(layers, tokens, inFeatures)) t.dispose();
    });
    assert.equal(dispatches, (whole ? 1 : 2) * runs, `${count} layers at ${bindable} storage buffers`);
    // Without the copies the second pass only copies them: the same bits.
    const bySecondPass = await withEnv('MCEVAL_WEBGPU_JOINS', 'shaders', () =>
      valuesOn('webgpu', LOW_RANK_WEIGHT_GRADIENTS, () => sharedGradients(layers, tokens, inFeatures)),
    );
    bySecondPass.forEach((values, i) => assert.deepEqual(values, actual[i], `gradient ${i} without copies`));
  });
}

test('the weight gradients split the tokens only where the output has too few tiles to fill a GPU', () => {
  // builtin:medium's dA at 2,048 tokens: 6 tiles of 128 × 8, each split into 64 chunks of 32 tokens.
  assert.deepEqual(productPlan(768, 8, 2048), {
    m: 768,
    n: 8,
    blocksM: 32,
    tilesM: 6,
    tilesN: 1,
    splits: 64,
    chunk: 32,
    workgroups: 384,
  });
  // Its dB, [8, 3072]: 24 tiles of 8 × 128, 22 chunks of 94 tokens (the last 74) for ~512 workgroups.
  const dB = productPlan(8, 3072, 2048);
  assert.deepEqual([dB.blocksM, dB.tilesN, dB.splits, dB.chunk], [2, 24, 22, 94]);
  // A wide output is not split; nor are a few tokens.
  assert.equal(productPlan(4096, 4096, 2048).splits, 1);
  assert.equal(productPlan(768, 8, 20).splits, 1);
});
