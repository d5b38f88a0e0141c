/**
 * The inline low-rank products of layers that read one x as one dispatch (McevalLowRankProductGroup,
 * engine/kernels/webgpu/low-rank-product.ts): each member's output and narrow product equal, bit for bit, what the
 * member's own McevalLowRankProductInline dispatch gives (the same sums in the same order), at widths that are not
 * multiples of the tile, under both tiles; through engine/ops/low-rank-linear.ts, a decoder's q, k and v and its gate
 * and up (with dropout, its masks made inside the kernels) agree with wasm, forward and backward, within 1e-5 of the
 * largest value, in one dispatch each; a group takes as many leading layers as the device binds; and when a group binds
 * too many buffers for the device, or a member would not be formed inline, it is not formed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { lowRankLinears, type LowRankLayer } from '../../src/engine/ops/low-rank-linear.js';
import {
  LOW_RANK_GRADIENT_GROUP,
  LOW_RANK_PRODUCT_GROUP,
  LOW_RANK_PRODUCT_INLINE,
  groupsInlineGradients,
  groupsInlineProducts,
  type GradientGroupAttrs,
  type GroupProductAttrs,
  type InlineProductAttrs,
} from '../../src/engine/kernels/webgpu/low-rank-product.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { keepThreshold, type HashedDropout } from '../../src/engine/dropout-bits.js';
import { drawKey } from '../../src/engine/counter-hash.js';
import { numberedInputs } from '../../src/engine/ops/numbered-inputs.js';
import { assertAgree } from './agreement.js';
import { normalMatrices } from './random-matrix.js';
import { deviceWithLimits } from './device-limits.js';
import { dispatchesOf, withKernelCallCounts } from './dispatches.js';
import { withEnv } from '../helpers.js';

const device = () => tf.backend() as unknown as WebGpuBackendLike;

/**
 * Storage buffers a group of `members` binds: x, then per member W, N, E, t and the output (masks bind none); with
 * biases, x, per member W, N, E and the output, then the joined t's and biases.
 */
const bindings = (members: number, biased = false) => (biased ? 3 + members * 4 : 1 + members * 5);

/** A dropout keeping 90% of elements, keyed by `draw`. */
const dropoutKeyed = (draw: number): HashedDropout => ({
  key: drawKey(draw),
  threshold: keepThreshold(0.9),
  scale: 1 / 0.9,
});

/** A kernel's outputs. */
const run = (name: string, inputs: Record<string, Tensor>, attrs: object) =>
  tf.engine().runKernel(name, inputs as never, attrs as never) as Tensor[];

/** A kernel's outputs and the dispatches it recorded. */
function runCounted(name: string, inputs: Record<string, Tensor>, attrs: object) {
  let outputs: Tensor[] = [];
  const dispatches = dispatchesOf(name, () => (outputs = run(name, inputs, attrs)));
  return { outputs, dispatches };
}

const read = (tensors: Tensor[]) => Promise.all(tensors.map(async (t) => Array.from(await t.data())));

interface Group {
  readonly rows: number;
  readonly inner: number;
  readonly widths: readonly number[];
  readonly rank: number;
  readonly masked: boolean;
  /** Every member has a bias (joined in the group's dispatch). */
  readonly biased?: boolean;
}

const GROUPS: Group[] = [
  // q, k and v of a grouped-query layer: k and v narrower, none a multiple of 64 or 128 but the first.
  { rows: 70, inner: 64, widths: [128, 36, 36], rank: 8, masked: false },
  { rows: 70, inner: 64, widths: [128, 36, 36], rank: 8, masked: true },
  // gate and up with dropout, several tiles down and across.
  { rows: 150, inner: 48, widths: [132, 260], rank: 16, masked: true },
  { rows: 9, inner: 20, widths: [4, 8], rank: 4, masked: false },
  // An encoder's query, key and value with their biases (and the grouped-query widths), with and without dropout.
  { rows: 70, inner: 64, widths: [64, 64, 64], rank: 8, masked: false, biased: true },
  { rows: 70, inner: 64, widths: [128, 36, 36], rank: 8, masked: true, biased: true },
  // (Over the few-rows shader's 16 rows: a member's own product of fewer rows runs there, in another order.)
  { rows: 20, inner: 20, widths: [4, 8], rank: 4, masked: false, biased: true },
];

async function memberAndGroupValues(
  group: Group,
): Promise<{ own: number[][]; grouped: number[][]; dispatches: number }> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const rng = new Rng(12);
  const matrix = normalMatrices(rng);
  const { rows, inner, widths, rank, masked, biased } = group;
  const x = matrix(rows, inner);
  const members = widths.map((width, l) => ({
    w: matrix(inner, width),
    n: matrix(inner, rank),
    e: matrix(rank, width),
    bias: biased ? tf.tidy(() => tf.reshape(matrix(1, width), [width])) : undefined,
    scale: 0.5 + l,
    inputDropout: masked ? dropoutKeyed(20 + l) : undefined,
  }));
  const own = members.flatMap(({ w, n, e, bias, inputDropout, scale }) => {
    const attrs: InlineProductAttrs = {
      transposeW: false,
      transposeN: false,
      transposeE: false,
      narrowScale: 1,
      scale,
      inputDropout,
    };
    return run(LOW_RANK_PRODUCT_INLINE, { x, w, n, e, ...(bias ? { bias } : {}) }, attrs);
  });
  const inputs = { x, ...numberedInputs(members.map(({ w, n, e, bias }) => ({ w, n, e, bias }))) };
  const attrs: GroupProductAttrs = {
    scales: members.map((m) => m.scale),
    inputDropouts: masked ? members.map((m) => m.inputDropout!) : undefined,
  };
  const { outputs: grouped, dispatches } = runCounted(LOW_RANK_PRODUCT_GROUP, inputs, attrs);
  // The member's own outputs come as [y, t] pairs; the group's as every y, then every t.
  const ownValues = await read(own);
  const pairs = widths.flatMap((_, l) => [ownValues[2 * l]!, ownValues[2 * l + 1]!]);
  const groupValues = await read(grouped);
  const groupPairs = widths.flatMap((_, l) => [groupValues[l]!, groupValues[widths.length + l]!]);
  tf.dispose([x, ...members.flatMap((m) => [m.w, m.n, m.e, ...(m.bias ? [m.bias] : [])]), ...own, ...grouped]);
  assert.equal(tf.memory().numTensors, before, 'a tensor outlived the kernels');
  return { own: pairs, grouped: groupPairs, dispatches };
}

for (const tile of ['64', '128'])
  for (const group of GROUPS)
    test(`webgpu product group (tile ${tile}) equals its members' own dispatches: ${group.rows}×${group.inner}→${group.widths.join('+')}, r ${group.rank}${group.masked ? ', dropout' : ''}${group.biased ? ', biases' : ''}`, async (t) => {
      await initEngine('webgpu');
      const needs = bindings(group.widths.length, group.biased);
      if (needs > storageBuffersPerShader(device())) {
        t.skip(`the group binds ${needs} storage buffers; the device allows fewer`);
        return;
      }
      const { own, grouped, dispatches } = await withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, () =>
        memberAndGroupValues(group),
      );
      assert.equal(dispatches, 1);
      group.widths.forEach((_, l) => {
        assert.deepEqual(grouped[2 * l], own[2 * l], `member ${l}: output`);
        assert.deepEqual(grouped[2 * l + 1], own[2 * l + 1], `member ${l}: narrow product`);
      });
    });

interface GradientGroup {
  readonly rows: number;
  readonly inners: readonly number[];
  readonly columns: number;
  readonly rank: number;
  readonly masked: boolean;
}

const GRADIENT_GROUPS: GradientGroup[] = [
  { rows: 70, inners: [128, 36, 36], columns: 68, rank: 8, masked: false },
  { rows: 70, inners: [128, 36, 36], columns: 68, rank: 8, masked: true },
  { rows: 150, inners: [132, 260], columns: 140, rank: 8, masked: true },
  { rows: 9, inners: [4, 8], columns: 20, rank: 4, masked: false },
];

/** The group's input gradient and t's, and the members' own inline dispatches chained through their addends. */
async function chainAndGroupGradients(group: GradientGroup) {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const rng = new Rng(13);
  const matrix = normalMatrices(rng);
  const { rows, inners, columns, rank, masked } = group;
  const members = inners.map((inner, l) => ({
    dy: matrix(rows, inner),
    w: matrix(columns, inner),
    n: matrix(rank, inner),
    e: matrix(columns, rank),
    scale: 0.75 * (l + 1),
    dropout: masked ? dropoutKeyed(40 + l) : undefined,
  }));
  const made: Tensor[] = [];
  let dx: Tensor | undefined;
  const chainDowns: Tensor[] = [];
  for (let l = members.length - 1; l >= 0; l--) {
    const { dy, w, n, e, dropout, scale } = members[l]!;
    const attrs: InlineProductAttrs = {
      transposeW: true,
      transposeN: true,
      transposeE: true,
      narrowScale: scale,
      scale: 1,
      dropout,
    };
    const [next, down] = run(LOW_RANK_PRODUCT_INLINE, { x: dy, w, n, e, ...(dx ? { addend: dx } : {}) }, attrs);
    made.push(next!, down!);
    [dx, chainDowns[l]] = [next, down];
  }
  const inputs = numberedInputs(members.map(({ dy, w, n, e }) => ({ dy, w, n, e })));
  const attrs: GradientGroupAttrs = {
    narrowScales: members.map((m) => m.scale),
    dropouts: masked ? members.map((m) => m.dropout!) : undefined,
  };
  const { outputs: grouped, dispatches } = runCounted(LOW_RANK_GRADIENT_GROUP, inputs, attrs);
  const chain = await read([dx!, ...chainDowns]);
  const values = await read(grouped);
  const inputsMade = members.flatMap((m) => [m.dy, m.w, m.n, m.e]);
  tf.dispose([...inputsMade, ...made, ...grouped]);
  assert.equal(tf.memory().numTensors, before, 'a tensor outlived the kernels');
  return { chain, grouped: values, dispatches };
}

for (const tile of ['64', '128'])
  for (const group of GRADIENT_GROUPS)
    test(`webgpu gradient group (tile ${tile}) agrees with its members' chained dispatches: ${group.inners.join('+')}→${group.columns}, ${group.rows} rows, r ${group.rank}${group.masked ? ', dropout' : ''}`, async (t) => {
      await initEngine('webgpu');
      const fits = await withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, () =>
        withEnv('MCEVAL_WEBGPU_INLINE_NARROW', 'always', () => groupsInlineGradients(device(), group)),
      );
      if (!fits) {
        t.skip('the device cannot bind this group');
        return;
      }
      const { chain, grouped, dispatches } = await withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, () =>
        chainAndGroupGradients(group),
      );
      assert.equal(dispatches, 1);
      // dx is summed in another order (each member's products into one accumulator); each t is the same sums.
      assertAgree('dx', grouped[0]!, chain[0]!, 1e-5);
      group.inners.forEach((_, l) => assert.deepEqual(grouped[1 + l], chain[1 + l], `member ${l}: t`));
    });

test('a group is one dispatch where the device binds it and each member would be formed inline', async () => {
  const fake = (buffers: number) => deviceWithLimits(buffers, 32768);
  const qkv = { rows: 256, inner: 768, columns: [768, 256, 256], rank: 8, inputMask: false };
  assert.equal(groupsInlineProducts(fake(16), qkv), true);
  // Input masks are made in the shader: three members still bind 16 buffers.
  assert.equal(groupsInlineProducts(fake(16), { ...qkv, inputMask: true }), true);
  assert.equal(groupsInlineProducts(fake(15), qkv), false);
  assert.equal(groupsInlineProducts(fake(15), { ...qkv, columns: [768, 256], inputMask: true }), true);
  // At WebGPU's default of 8, not even two.
  assert.equal(groupsInlineProducts(fake(8), { ...qkv, columns: [768, 256] }), false);
  // One member alone is not a group; a member too large for `auto`, or not vectorizable, keeps its own dispatch.
  assert.equal(groupsInlineProducts(fake(16), { ...qkv, columns: [768] }), false);
  assert.equal(groupsInlineProducts(fake(16), { ...qkv, rows: 2048, columns: [768, 2 ** 20] }), false);
  assert.equal(groupsInlineProducts(fake(16), { ...qkv, columns: [768, 254] }), false);
  await withEnv('MCEVAL_WEBGPU_INLINE_NARROW', 'never', () => assert.equal(groupsInlineProducts(fake(16), qkv), false));
  // MCEVAL_WEBGPU_GROUPS=never keeps each layer's own dispatches (the kit times both).
  await withEnv('MCEVAL_WEBGPU_GROUPS', 'never', () => assert.equal(groupsInlineProducts(fake(16), qkv), false));
  // With biases: x, four per member, the joined t's and biases — 15 for three; rows past the few-rows shader's, their
  // biases and t's joined and cut by copies.
  const biased = { ...qkv, biased: true };
  assert.equal(groupsInlineProducts(fake(15), biased), true);
  assert.equal(groupsInlineProducts(fake(14), biased), false);
  assert.equal(groupsInlineProducts(fake(16), { ...biased, columns: [768, 256, 256, 256] }), false);
  assert.equal(groupsInlineProducts(fake(16), { ...biased, rows: 16 }), false);
  assert.equal(groupsInlineProducts(fake(16), { ...biased, normalized: true }), false);
  await withEnv('MCEVAL_WEBGPU_JOINS', 'shaders', () => assert.equal(groupsInlineProducts(fake(16), biased), false));
});

test("a group's input gradient is one dispatch where the device binds it and holds every member's t", async () => {
  const fake = (buffers: number, bytes = 32768) => deviceWithLimits(buffers, bytes);
  const qkv = { rows: 256, inners: [768, 256, 256], columns: 768, rank: 8 };
  assert.equal(groupsInlineGradients(fake(16), qkv), true);
  assert.equal(groupsInlineGradients(fake(15), qkv), false);
  assert.equal(groupsInlineGradients(fake(15), { ...qkv, inners: [768, 256] }), true);
  assert.equal(groupsInlineGradients(fake(16), { ...qkv, inners: [768] }), false);
  // 64-row tiles: the inline variant's 8.5 KiB at r 8, and 2 KiB of t per member.
  assert.equal(groupsInlineGradients(fake(16, 14848), qkv), true);
  assert.equal(groupsInlineGradients(fake(16, 14844), qkv), false);
  // 128-row tiles at r 16, three members: 41 KiB, more than lavapipe's 32 and less than an H200's 48.
  await withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', '128', () => {
    assert.equal(groupsInlineGradients(fake(16), { ...qkv, rank: 16 }), false);
    assert.equal(groupsInlineGradients(fake(16, 49152), { ...qkv, rank: 16 }), true);
  });
  assert.equal(groupsInlineGradients(fake(16), { ...qkv, rows: 4096, inners: [768, 2 ** 20] }), false);
  await withEnv('MCEVAL_WEBGPU_GROUPS', 'never', () => assert.equal(groupsInlineGradients(fake(16), qkv), false));
});

/**
 * A decoder layer's groups through the op: q, k and v (A perturbed on k, as MonteCLoRA's), gate and up with dropout,
 * and four layers with dropout reading one x (one more than a group binds at 16 storage buffers).
 */
async function decoderGroups(backend: 'wasm' | 'webgpu'): Promise<number[][]> {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const rng = new Rng(14);
  const matrix = normalMatrices(rng);
  const [tokens, hidden, rank] = [40, 64, 8];
  const x = matrix(tokens, hidden);
  const groups = [
    { widths: [64, 32, 32], masked: false },
    { widths: [96, 96], masked: true },
    // At 16 storage buffers the first three go together, the fourth keeps its own dispatches.
    { widths: [64, 32, 32, 48], masked: true },
  ].map(({ widths, masked }, g) => ({
    widths,
    weights: widths.map((width) => matrix(hidden, width)),
    dropouts: widths.map((_, l) => (masked ? dropoutKeyed(30 + 10 * g + l) : undefined)),
    upstreams: widths.map((width) => matrix(tokens, width)),
    perturbed: g === 0 ? 1 : -1,
  }));
  // Per group: A and B per member, then the perturbation of the perturbed member's A.
  const factors = groups.flatMap(({ widths, perturbed }) => [
    ...widths.flatMap((width) => [matrix(hidden, rank), matrix(rank, width)]),
    ...(perturbed >= 0 ? [matrix(hidden, rank)] : []),
  ]);
  const layersOf = (t: Tensor[]) => {
    let at = 0;
    return groups.map(({ widths, weights, dropouts, perturbed }) => {
      const own = t.slice(at, (at += 2 * widths.length + Number(perturbed >= 0)));
      return widths.map((_, l): LowRankLayer => ({
        weight: weights[l]!,
        update: {
          a: own[2 * l] as Tensor2D,
          b: own[2 * l + 1] as Tensor2D,
          scaling: 2 / (l + 1),
          ...(dropouts[l] ? { dropout: dropouts[l] } : {}),
          ...(l === perturbed ? { perturbation: own.at(-1) as Tensor2D } : {}),
        },
      }));
    });
  };
  const loss = (...t: Tensor[]) =>
    tf.addN(
      layersOf(t.slice(1)).flatMap((layers, g) =>
        lowRankLinears(t[0]!, layers).map((y, l) => tf.sum(tf.mul(y, groups[g]!.upstreams[l]!))),
      ),
    );
  const { value, grads } = tf.valueAndGrads(loss)([x, ...factors]);
  const outputs = tf.tidy(() => layersOf(factors).flatMap((layers) => lowRankLinears(x, layers)));
  const arrays = await Promise.all([...outputs, ...grads].map(async (t) => Array.from(await t.data())));
  const owned = groups.flatMap((g) => [...g.weights, ...g.upstreams]);
  tf.dispose([x, ...factors, ...owned, value, ...outputs, ...grads]);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the op`);
  return arrays;
}

test("webgpu: a decoder layer's q, k, v and gate, up agree with wasm, in one dispatch each way as the device binds them", async (t) => {
  await initEngine('webgpu');
  if (bindings(3) > storageBuffersPerShader(device())) {
    t.skip('q, k and v bind 16 storage buffers; the device allows fewer');
    return;
  }
  const reference = await decoderGroups('wasm');
  const { value: candidate, calls } = await withKernelCallCounts(
    [LOW_RANK_PRODUCT_GROUP, LOW_RANK_GRADIENT_GROUP, LOW_RANK_PRODUCT_INLINE],
    () => withEnv('MCEVAL_WEBGPU_INLINE_NARROW', 'always', () => decoderGroups('webgpu')),
  );
  // Each group's forward pass in the gradient's tape and again for the outputs, its backward pass once; the fourth
  // layer's own products (two forward, one backward) too.
  assert.deepEqual(calls, {
    [LOW_RANK_PRODUCT_GROUP]: 6,
    [LOW_RANK_GRADIENT_GROUP]: 3,
    [LOW_RANK_PRODUCT_INLINE]: 3,
  });
  const labels = ['q', 'k', 'v', 'gate', 'up', 'q masked', 'k masked', 'v masked', 'fourth masked', 'dx'];
  for (const [g, members] of [
    [0, 3],
    [1, 2],
    [2, 4],
  ] as const) {
    for (let l = 0; l < members; l++) labels.push(`dA ${g}.${l}`, `dB ${g}.${l}`);
    if (g === 0) labels.push('dP k');
  }
  assert.equal(candidate.length, reference.length);
  reference.forEach((values, i) => assertAgree(labels[i] ?? `gradient ${i}`, candidate[i]!, values, 1e-5));
});

/** An encoder layer's query, key and value with biases through the op (with dropout: `masked`), outputs and grads. */
async function encoderGroup(backend: 'wasm' | 'webgpu', masked: boolean): Promise<number[][]> {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const matrix = normalMatrices(new Rng(15));
  const [tokens, hidden, rank] = [40, 64, 8];
  const x = matrix(tokens, hidden);
  const weights = [0, 1, 2].map(() => matrix(hidden, hidden));
  const biases = [0, 1, 2].map(() => tf.tidy(() => tf.reshape(matrix(1, hidden), [hidden])));
  const upstreams = [0, 1, 2].map(() => matrix(tokens, hidden));
  const factors = [0, 1, 2].flatMap(() => [matrix(hidden, rank), matrix(rank, hidden)]);
  const layersOf = (t: Tensor[]) =>
    weights.map((weight, l): LowRankLayer => ({
      weight,
      bias: biases[l],
      update: {
        a: t[2 * l] as Tensor2D,
        b: t[2 * l + 1] as Tensor2D,
        scaling: 2 / (l + 1),
        ...(masked ? { dropout: dropoutKeyed(60 + l) } : {}),
      },
    }));
  const loss = (...t: Tensor[]) =>
    tf.addN(lowRankLinears(t[0]!, layersOf(t.slice(1))).map((y, l) => tf.sum(tf.mul(y, upstreams[l]!))));
  const { value, grads } = tf.valueAndGrads(loss)([x, ...factors]);
  const outputs = tf.tidy(() => lowRankLinears(x, layersOf(factors)));
  const arrays = await Promise.all([...outputs, ...grads].map(async (t) => Array.from(await t.data())));
  tf.dispose([x, ...weights, ...biases, ...upstreams, ...factors, value, ...outputs, ...grads]);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the op`);
  return arrays;
}

for (const masked of [false, true])
  test(`webgpu: an encoder layer's query, key and value with biases${masked ? ' and dropout' : ''} agree with wasm, in one dispatch each way`, async (t) => {
    await initEngine('webgpu');
    if (bindings(3, true) > storageBuffersPerShader(device())) {
      t.skip('query, key and value with biases bind 15 storage buffers; the device allows fewer');
      return;
    }
    const reference = await encoderGroup('wasm', masked);
    const { value: candidate, calls } = await withKernelCallCounts(
      [LOW_RANK_PRODUCT_GROUP, LOW_RANK_GRADIENT_GROUP, LOW_RANK_PRODUCT_INLINE],
      () => withEnv('MCEVAL_WEBGPU_INLINE_NARROW', 'always', () => encoderGroup('webgpu', masked)),
    );
    // The forward pass in the gradient's tape and again for the outputs; the backward pass once.
    assert.deepEqual(calls, {
      [LOW_RANK_PRODUCT_GROUP]: 2,
      [LOW_RANK_GRADIENT_GROUP]: 1,
      [LOW_RANK_PRODUCT_INLINE]: 0,
    });
    const labels = ['query', 'key', 'value', 'dx', 'dA q', 'dB q', 'dA k', 'dB k', 'dA v', 'dB v'];
    assert.equal(candidate.length, reference.length);
    reference.forEach((values, i) => assertAgree(labels[i]!, candidate[i]!, values, 1e-5));
  });
