/**
 * RMSNorm formed inside the projections that read it on webgpu (Linear.forwardSharedNormed,
 * engine/ops/normalized-input.ts): outside training and off the tape, low-rank layers reading one normalized x — three
 * as a decoder's q, k and v, two as its gate and up, one alone — give the bits of McevalRmsNorm followed by
 * forwardShared, in one dispatch without McevalRmsNorm where the device binds the group and the rows fit one tile, and
 * pass x on as the stream: a decoding step's 2 rows (also scaled per column, as DoRA's are), 40 and 64, and 100 at
 * 128-wide tiles, widths of 64 and 96 (a row's lanes partly idle); 150 rows have the norm formed first. The kernels
 * themselves over 150 rows (three tiles of rows, the last ragged) give McevalRmsNorm's bits. On the tape, in training,
 * and with a plain frozen layer among them, the norm is formed first. What a normalizing group binds and holds, against
 * a device's limits. No tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Variable } from '../../src/engine/tf.js';
import { Linear } from '../../src/models/layers/linear.js';
import { rmsNormPassing } from '../../src/models/layers/rms-norm.js';
import { EVAL_CONTEXT, type ForwardContext } from '../../src/models/forward-context.js';
import { RMS_NORM } from '../../src/engine/kernels/webgpu/rms-norm.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { dispatchesOf, withKernelCalls } from './dispatches.js';
import { madeLinear } from './made-linear.js';
import { withEnv } from '../helpers.js';
import { deviceWithLimits } from './device-limits.js';
import {
  LOW_RANK_PRODUCT_GROUP,
  LOW_RANK_PRODUCT_INLINE,
  groupsInlineProducts,
  inlinesNarrowProduct,
} from '../../src/engine/kernels/webgpu/low-rank-product.js';
import { numberedInputs } from '../../src/engine/ops/numbered-inputs.js';
import { normalizedProductsShape } from '../../src/engine/kernels/webgpu/normalized-products.js';

const EPS = 1e-5;

/**
 * Storage buffers a normalizing dispatch binds: x and the norm weight, then W, A, B and the output per layer of a group
 * (the same count alone: x, W, A, B, the norm weight, the output).
 */
const normalizingBuffers = (layers: number) => (layers === 1 ? 6 : 2 + 4 * layers);

interface Projections {
  readonly layers: Linear[];
  readonly x: Tensor;
  readonly norm: Variable;
  readonly all: Tensor[];
}

/**
 * Layers of these widths reading x [2, rows / 2, inner], low-rank (rank 8) unless listed in `plain`, each scaled per
 * output column (as DoRA's) where `scaled`.
 */
function projections(
  rows: number,
  inner: number,
  widths: readonly number[],
  plain: readonly number[] = [],
  scaled = false,
) {
  const rng = new Rng(53 + rows + inner + widths.length);
  const made = widths.map((width, l) => madeLinear(rng, [inner, width], plain.includes(l) ? {} : { rank: 8, scaled }));
  const x = tf.tensor(rng.normalArray(rows * inner, 0, 3), [2, rows / 2, inner]);
  const norm = tf.tidy(() => tf.variable(tf.tensor1d(rng.normalArray(inner, 1, 0.2)), false));
  const layers = made.map(({ linear }) => linear);
  return { layers, x, norm, all: [...made.flatMap(({ tensors }) => tensors), x, norm] } satisfies Projections;
}

/** `body` on projections made on webgpu, their tensors freed after; no tensor is left behind. */
async function withProjections(made: () => Projections, body: (p: Projections) => Promise<void>): Promise<void> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const p = made();
  await body(p);
  tf.dispose(p.all);
  assert.equal(tf.memory().numTensors, before);
}

/** The layers' outputs and stream, read, with the compute dispatches and McevalRmsNorm calls they took. */
async function measured(body: () => { outputs: Tensor[]; stream: Tensor }) {
  let result: Tensor[] = [];
  let dispatches = 0;
  const { calls } = await withKernelCalls(RMS_NORM, async () => {
    dispatches = dispatchesOf(
      '',
      () =>
        (result = tf.tidy(() => {
          const { outputs, stream } = body();
          return [...outputs, stream];
        })),
    );
  });
  const values = await Promise.all(result.map(async (t) => Array.from(await t.data())));
  tf.dispose(result);
  return { values, calls, dispatches };
}

const formedFirst = ({ layers, x, norm }: Projections, context: ForwardContext) => {
  const [normed, stream] = rmsNormPassing(x, norm, EPS);
  return { outputs: Linear.forwardShared(layers, normed, context), stream };
};

const CASES = [
  { label: 'q, k and v of a decoding step', rows: 2, inner: 64, widths: [64, 32, 32] },
  { label: 'gate and up of a 64-row prompt', rows: 64, inner: 96, widths: [192, 192] },
  { label: 'one layer', rows: 40, inner: 64, widths: [48] },
  { label: 'q, k and v of 100 rows, 128-wide tiles', rows: 100, inner: 64, widths: [64, 32, 32], tile: '128' },
  { label: 'q, k and v of a 150-row prompt, formed first', rows: 150, inner: 64, widths: [64, 32, 32] },
  { label: 'DoRA-scaled q, k and v of a decoding step', rows: 2, inner: 64, widths: [64, 32, 32], scaled: true },
];

for (const { label, rows, inner, widths, tile, scaled } of CASES) {
  test(`forwardSharedNormed forms the norm inside the products of ${label}: the same bits`, () =>
    withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, () =>
      withProjections(
        () => projections(rows, inner, widths, [], scaled),
        async (p) => {
          const inside = await measured(() => Linear.forwardSharedNormed(p.layers, p.x, p.norm, EPS, EVAL_CONTEXT));
          const first = await measured(() => formedFirst(p, EVAL_CONTEXT));
          // Rows within one tile, and the buffers bound. Its workgroup memory fits lavapipe's 32 KiB at either tile; at
          // WebGPU's default 16 KiB, 128-wide tiles fail on buffers first here.
          const needed = normalizingBuffers(widths.length);
          const binds = needed <= storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
          const inside1 = binds && rows <= Number(tile ?? 64);
          assert.equal(inside.calls, inside1 ? 0 : 1, 'McevalRmsNorm runs only where the products do not take it');
          // Then each scaled layer's scaling, a dispatch of its own.
          const scalings = scaled ? widths.length : 0;
          if (inside1) assert.equal(inside.dispatches, 1 + scalings, 'the norm and the products are one dispatch');
          assert.equal(first.calls, 1);
          assert.deepEqual(inside.values, first.values);
        },
      ),
    ));
}

/**
 * The kernels themselves over several tiles of rows (the op leaves those to the norm): their outputs with a norm weight
 * against McevalRmsNorm and the same kernel without, bit for bit.
 */
for (const { widths, tile } of [
  { widths: [64, 32, 32], tile: undefined },
  { widths: [48], tile: undefined },
  { widths: [64, 32, 32], tile: '128' },
]) {
  test(`a normalizing ${widths.length === 1 ? 'inline product' : 'group'} over 150 rows${tile ? ', 128-wide tiles' : ''} gives McevalRmsNorm's bits`, (t) =>
    withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, () =>
      withProjections(
        () => projections(150, 96, widths),
        async ({ layers, x, norm }) => {
          // As the op's own check: a device that binds fewer buffers (WebGPU's default 8) refuses the dispatch.
          const needed = normalizingBuffers(widths.length);
          if (needed > storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike)) {
            t.skip(`the device binds fewer than ${needed} storage buffers`);
            return;
          }
          const operands = layers.map((layer) => {
            const update = layer.adapter!.lowRankUpdate!(x, layer, EVAL_CONTEXT)!;
            return { w: layer.weight, n: update.a, e: update.b };
          });
          const run = (input: Tensor, normWeight?: Tensor) => {
            const normalization = normWeight === undefined ? {} : { normWeight };
            const flat = tf.reshape(input, [150, 96]);
            if (operands.length === 1) {
              const attrs = { transposeW: false, transposeN: false, transposeE: false, narrowScale: 1, scale: 2 };
              const inputs = { x: flat, ...operands[0]!, ...normalization };
              const outputs = tf.engine().runKernel(
                LOW_RANK_PRODUCT_INLINE,
                inputs as never,
                {
                  ...attrs,
                  ...(normWeight === undefined ? {} : { normEps: EPS }),
                } as never,
              ) as Tensor[];
              return outputs.slice(0, 1);
            }
            const inputs = { x: flat, ...numberedInputs(operands), ...normalization };
            const attrs = { scales: operands.map(() => 2), ...(normWeight === undefined ? {} : { normEps: EPS }) };
            const outputs = tf.engine().runKernel(LOW_RANK_PRODUCT_GROUP, inputs as never, attrs as never) as Tensor[];
            return outputs.slice(0, operands.length);
          };
          const [inside, first] = [
            tf.tidy(() => run(x, norm)),
            tf.tidy(() =>
              run((tf.engine().runKernel(RMS_NORM, { x, w: norm }, { eps: EPS } as never) as Tensor[])[0]!),
            ),
          ];
          const read = (tensors: Tensor[]) => Promise.all(tensors.map(async (t) => Array.from(await t.data())));
          assert.deepEqual(await read(inside), await read(first));
          tf.dispose([...inside, ...first]);
        },
      ),
    ));
}

test('on the tape, in training and with a plain layer among them, the norm is formed first', () =>
  withProjections(
    () => projections(2, 64, [64, 32, 32]),
    async (p) => {
      const gradients = async (body: (x: Tensor) => { outputs: Tensor[]; stream: Tensor }) => {
        const sum = (x: Tensor) => {
          const { outputs, stream } = body(x);
          return tf.addN([...outputs, stream].map((t) => tf.sum(tf.mul(t, t))));
        };
        const { value, calls } = await withKernelCalls(RMS_NORM, async () => tf.valueAndGrads(sum)([p.x]));
        const arrays = await Promise.all([value.value, ...value.grads].map(async (t) => Array.from(await t.data())));
        tf.dispose([value.value, ...value.grads]);
        return { arrays, calls };
      };
      const inside = await gradients((x) => Linear.forwardSharedNormed(p.layers, x, p.norm, EPS, EVAL_CONTEXT));
      const first = await gradients((x) => formedFirst({ ...p, x }, EVAL_CONTEXT));
      assert.equal(inside.calls, 1, 'McevalRmsNorm runs on the tape');
      assert.deepEqual(inside.arrays, first.arrays);
      const training = await measured(() =>
        Linear.forwardSharedNormed(p.layers, p.x, p.norm, EPS, { training: true, rng: new Rng(2) }),
      );
      assert.equal(training.calls, 1, 'McevalRmsNorm runs in training');
    },
  ));

test('a plain frozen layer among the projections has the norm formed first', () =>
  withProjections(
    () => projections(2, 64, [64, 32, 32], [1]),
    async (p) => {
      const inside = await measured(() => Linear.forwardSharedNormed(p.layers, p.x, p.norm, EPS, EVAL_CONTEXT));
      const first = await measured(() => formedFirst(p, EVAL_CONTEXT));
      assert.equal(inside.calls, 1);
      assert.deepEqual(inside.values, first.values);
    },
  ));

for (const { label, rows, widths, fewRows, inside1 } of [
  { label: "the base model's q, k and v of a decoding step", rows: 2, widths: [64, 32, 32], inside1: true },
  { label: 'its gate and up of 12 rows (two workgroups of rows)', rows: 12, widths: [96, 96], inside1: true },
  { label: 'q, k and v of a 40-row prompt', rows: 40, widths: [64, 32, 32], inside1: false },
  {
    label: 'q, k and v of 2 rows with the few-rows shader off',
    rows: 2,
    widths: [64, 32],
    fewRows: '0',
    inside1: false,
  },
])
  test(`plain layers: ${label} read the norm inside their products where few rows allow, the same bits`, () =>
    withEnv('MCEVAL_WEBGPU_FEW_ROWS', fewRows, () =>
      withProjections(
        () =>
          projections(
            rows,
            64,
            widths,
            widths.map((_, l) => l),
          ),
        async (p) => {
          const inside = await measured(() => Linear.forwardSharedNormed(p.layers, p.x, p.norm, EPS, EVAL_CONTEXT));
          const first = await measured(() => formedFirst(p, EVAL_CONTEXT));
          assert.equal(inside.calls, inside1 ? 0 : 1, 'McevalRmsNorm runs only where the products do not take it');
          if (inside1) assert.equal(inside.dispatches, 1, 'the norm and the products are one dispatch');
          assert.deepEqual(inside.values, first.values);
        },
      ),
    ));

test('normalized plain products bind x, the norm weight and two buffers a layer, and need vec4 widths', () => {
  const shape = (buffers: number, columns: number[], inner = 768, bytes = 32768) =>
    normalizedProductsShape(deviceWithLimits(buffers, bytes), 2, inner, columns);
  assert.notEqual(shape(8, [768, 256, 256]), undefined);
  assert.equal(shape(7, [768, 256, 256]), undefined);
  assert.equal(shape(16, [768, 258]), undefined);
  assert.equal(shape(16, [768], 766), undefined);
  // Its partial sums, its rows' outputs and the norm's sums: 5,256 bytes at 2 rows.
  assert.notEqual(shape(16, [768], 768, 5256), undefined);
  assert.equal(shape(16, [768], 768, 5252), undefined);
});

test("a normalizing group binds x, the norm weight and four buffers a member, and holds its rows' sums", async () => {
  const fake = (buffers: number, bytes = 32768) => deviceWithLimits(buffers, bytes);
  const qkv = { rows: 2, inner: 768, columns: [768, 256, 256], rank: 8, inputMask: false, normalized: true };
  assert.equal(groupsInlineProducts(fake(14), qkv), true);
  assert.equal(groupsInlineProducts(fake(13), qkv), false);
  assert.equal(groupsInlineProducts(fake(10), { ...qkv, columns: [768, 256] }), true);
  assert.equal(groupsInlineProducts(fake(9), { ...qkv, columns: [768, 256] }), false);
  // 64-row tiles at r 8: the inline variant's 8.5 KiB, and 1.25 KiB of sums and reciprocal RMS.
  assert.equal(groupsInlineProducts(fake(16, 9984), qkv), true);
  assert.equal(groupsInlineProducts(fake(16, 9980), qkv), false);
  const alone = { rows: 2, inner: 768, columns: 768, rank: 8, inputMask: false, others: 0, normalized: true };
  assert.equal(inlinesNarrowProduct(fake(6), alone), true);
  assert.equal(inlinesNarrowProduct(fake(5), alone), false);
});
