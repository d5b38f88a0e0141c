/**
 * The few-rows shader (kernels/webgpu/few-rows-product-wgsl.ts), which takes the products of up to
 * MCEVAL_WEBGPU_FEW_ROWS rows (a decoding step's) from the 64-row tiles: through the ops that reach it — a low-rank
 * layer's output and, on the tape, its gradients (the t it writes feeds A's), a group of layers reading one x, x
 * normalized, gated or GELU's as it is read, and the plain products with a residual added, gated, or W transposed (a
 * tied LM head) — against the same ops on wasm within 1e-5 of the largest value (float32 sums in another order), at 1
 * row, a few, and more than one workgroup's 8 (the last workgroup of rows ragged), widths that are not a multiple of
 * its 16-column tiles, ranks 4 to 16. Each case checks the shader ran, and that with MCEVAL_WEBGPU_FEW_ROWS=0 the tiles
 * do. No tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { lowRankLinears, type LowRankUpdate } from '../../src/engine/ops/low-rank-linear.js';
import { activatedLowRankLinear, type Activated } from '../../src/engine/ops/activated-low-rank-linear.js';
import { gelu } from '../../src/models/layers/layer-norm.js';
import { normalizedLowRankLinears } from '../../src/engine/ops/normalized-input.js';
import { gatedProductPlus, productPlus, productTransposedRight } from '../../src/engine/ops/product.js';
import { fewRowsMost } from '../../src/engine/kernels/webgpu/few-rows.js';
import { LOW_RANK_PRODUCT_INLINE, groupsInlineProducts } from '../../src/engine/kernels/webgpu/low-rank-product.js';
import type { WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { UserError } from '../../src/errors.js';
import { assertAgree } from './agreement.js';
import { dispatchesOf } from './dispatches.js';
import { normalMatrices } from './random-matrix.js';
import { withEnv } from '../helpers.js';

type Backend = 'wasm' | 'webgpu';

/**
 * Layers of these widths reading x [rows, inner] (also as gate and up, and with a norm weight): W, A, B (rank `rank`),
 * and with `extras` a bias and a residual each.
 */
interface Made {
  readonly x: Tensor2D;
  readonly gate: Tensor2D;
  readonly up: Tensor2D;
  readonly norm: Tensor;
  readonly layers: { weight: Tensor2D; bias?: Tensor; update: LowRankUpdate; residual?: Tensor }[];
  readonly all: Tensor[];
}

function made(rows: number, inner: number, widths: readonly number[], rank: number, extras: boolean): Made {
  const rng = new Rng(rows * 31 + inner + widths.length + rank);
  const matrix = normalMatrices(rng);
  const x = matrix(rows, inner);
  const gate = matrix(rows, inner);
  const up = matrix(rows, inner);
  const norm = tf.tensor1d(rng.normalArray(inner, 1, 0.2));
  const layers = widths.map((width) => {
    const [weight, a, b] = [matrix(inner, width), matrix(inner, rank), matrix(rank, width)];
    const update: LowRankUpdate = { a, b, scaling: 1.5 };
    if (!extras) return { weight, update };
    return { weight, update, bias: tf.tensor1d(rng.normalArray(width)), residual: matrix(rows, width) };
  });
  const all = [x, gate, up, norm, ...layers.flatMap((l) => [l.weight, l.update.a, l.update.b])];
  for (const { bias, residual } of layers) all.push(...(bias ? [bias] : []), ...(residual ? [residual] : []));
  return { x, gate, up, norm, layers, all };
}

/**
 * The values `body` gives on `backend` (each tensor read), and the dispatches of the few-rows shaders (keys with
 * `FewRows` in them; none on wasm). No tensor is left behind.
 */
async function run(backend: Backend, make: () => Made, body: (m: Made) => Tensor[]) {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const m = make();
  let outputs: Tensor[] = [];
  const count = () => {
    outputs = tf.tidy(() => body(m));
  };
  const fewRows = keyed('FewRows', count);
  const values = await Promise.all(outputs.map(async (t) => Array.from(await t.data())));
  tf.dispose([...outputs, ...m.all]);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the case`);
  return { values, fewRows };
}

/** Dispatches of shaders whose key contains `part` while `body` runs; on wasm, none (it runs `body`). */
function keyed(part: string, body: () => void): number {
  if (tf.getBackend() !== 'webgpu') {
    body();
    return 0;
  }
  return dispatchesOf(part, body, 'contains');
}

/**
 * Checks the case on webgpu against wasm, with the few-rows shader (taking `expected` dispatches, or as many as
 * `expected` says on this device) and without.
 */
async function agrees(
  label: string,
  make: () => Made,
  body: (m: Made) => Tensor[],
  expected: number | ((backend: WebGpuBackendLike) => number),
) {
  const reference = await run('wasm', make, body);
  const few = await run('webgpu', make, body);
  if (typeof expected === 'function') expected = expected(tf.backend() as unknown as WebGpuBackendLike);
  const tiles = await withEnv('MCEVAL_WEBGPU_FEW_ROWS', '0', () => run('webgpu', make, body));
  assert.equal(few.fewRows, expected, `${label}: the few-rows shader's dispatches`);
  assert.equal(tiles.fewRows, 0, `${label}: none with MCEVAL_WEBGPU_FEW_ROWS=0`);
  reference.values.forEach((values, i) => {
    assertAgree(`${label}, output ${i}`, few.values[i]!, values, 1e-5);
    assertAgree(`${label}, output ${i} on tiles`, tiles.values[i]!, values, 1e-5);
  });
}

/** Gradients of Σ y ⊙ dy for every output, as a training step takes them: x's, then each layer's A and B. */
function withGradients(m: Made, forward: (x: Tensor, factors: Tensor[]) => Tensor[]): Tensor[] {
  const factors = m.layers.flatMap((l) => [l.update.a, l.update.b]);
  const rng = new Rng(9);
  const { value, grads } = tf.valueAndGrads((x: Tensor, ...fs: Tensor[]) =>
    tf.addN(forward(x, fs).map((y) => tf.sum(tf.mul(y, tf.tensor(rng.normalArray(y.size), y.shape))))),
  )([m.x, ...factors]);
  return [value, ...grads];
}

/** The layers with their factors replaced (so that the tape follows them). */
const withFactors = (m: Made, factors: Tensor[]) =>
  m.layers.map((l, i) => ({
    ...l,
    update: { ...l.update, a: factors[2 * i] as Tensor2D, b: factors[2 * i + 1] as Tensor2D },
  }));

for (const { rows, rank } of [
  { rows: 1, rank: 8 },
  { rows: 6, rank: 4 },
  { rows: 11, rank: 16 },
]) {
  test(`one low-rank layer of ${rows} rows (rank ${rank}, bias, residual): output and gradients`, () =>
    agrees(
      'one layer',
      () => made(rows, 96, [100], rank, true),
      (m) => {
        const output = lowRankLinears(m.x, m.layers)[0]!;
        const grads = withGradients(m, (x, fs) => lowRankLinears(x, withFactors(m, fs)));
        return [output, ...grads];
      },
      // The output twice (alone, then on the tape); the input gradient stays on tiles (W transposed).
      2,
    ));
}

/** Whether the device binds the group of three (64, 36, 20 wide, reading 64) as one dispatch. */
const grouped = (backend: WebGpuBackendLike, rows: number, normalized: boolean) =>
  groupsInlineProducts(backend, { rows, inner: 64, columns: [64, 36, 20], rank: 8, inputMask: false, normalized });

for (const rows of [2, 13])
  test(`a group of three layers reading one x, ${rows} rows: outputs and gradients`, () =>
    agrees(
      'group',
      () => made(rows, 64, [64, 36, 20], 8, false),
      (m) => [...lowRankLinears(m.x, m.layers), ...withGradients(m, (x, fs) => lowRankLinears(x, withFactors(m, fs)))],
      // One dispatch for the outputs, one on the tape; each layer's own where the device binds no group of three.
      (backend) => (grouped(backend, rows, false) ? 2 : 6),
    ));

test('a group of three layers reading one x normalized as it is read, a decoding step', () =>
  agrees(
    'normalized group',
    () => made(2, 64, [64, 36, 20], 8, false),
    (m) => {
      const norm = { weight: m.norm, eps: 1e-5 };
      // On wasm the op declines; the reference is the norm formed first.
      const inside = normalizedLowRankLinears(m.x, norm, m.layers);
      if (inside !== undefined) return inside;
      const rms = tf.rsqrt(tf.add(tf.mean(tf.square(m.x), -1, true), 1e-5));
      return lowRankLinears(tf.mul(tf.mul(m.x, rms), m.norm), m.layers);
    },
    // Where the device binds no normalizing group, the norm is formed first and each layer runs alone.
    (backend) => (grouped(backend, 2, true) ? 1 : 3),
  ));

// The activation's output formed first on wasm (where the op declines): SwiGLU's gating of gate and up, GELU of gate.
const ACTIVATIONS = [
  {
    label: 'SwiGLU gating',
    activated: (m: Made): Activated => ({ kind: 'swiglu', gate: m.gate, up: m.up }),
    formed: (m: Made) => tf.mul(tf.mul(m.gate, tf.sigmoid(m.gate)), m.up),
  },
  {
    label: 'GELU of h',
    activated: (m: Made): Activated => ({ kind: 'gelu', input: m.gate }),
    formed: (m: Made) => gelu(m.gate),
  },
];

for (const { label, activated, formed } of ACTIVATIONS)
  test(`a low-rank layer reading ${label} as it is read, with bias and residual, 3 rows`, () =>
    agrees(
      label,
      () => made(3, 48, [40], 12, true),
      (m) => {
        const [{ weight, bias, update, residual }] = m.layers as [Made['layers'][0]];
        const inside = activatedLowRankLinear(activated(m), weight, bias, update, residual);
        return [inside ?? lowRankLinears(formed(m), m.layers)[0]!];
      },
      1,
    ));

for (const rows of [1, 5, 12])
  test(`plain products of ${rows} rows: with the residual added, gated, and W transposed`, () =>
    agrees(
      'plain products',
      () => made(rows, 68, [52], 4, true),
      (m) => {
        const [{ weight, residual }] = m.layers as [Made['layers'][0]];
        const gated = gatedProductPlus(m.gate, m.up, weight, residual!);
        const reference = tf.add(residual!, tf.matMul(tf.mul(tf.mul(m.gate, tf.sigmoid(m.gate)), m.up), weight));
        // W [68, 52] read as a [52, 68] matrix stored transposed: x′ [rows, 52].
        const narrowX = tf.slice(m.gate, [0, 0], [rows, 52]);
        return [productPlus(m.x, weight, residual!), gated ?? reference, productTransposedRight(narrowX, weight)];
      },
      // On wasm gatedProductPlus declines; on webgpu all three run on the shader.
      3,
    ));

test("the inline kernel's t scaled by narrowScale (as an input gradient's is), and y from it, 3 rows", () =>
  agrees(
    'scaled t',
    () => made(3, 64, [40], 8, false),
    (m) => {
      const [{ weight: w, update }] = m.layers as [Made['layers'][0]];
      const [n, e] = [update.a, update.b];
      if (tf.getBackend() === 'webgpu') {
        const attrs = { transposeW: false, transposeN: false, transposeE: false, scale: 1.5, narrowScale: 2.5 };
        return tf.engine().runKernel(LOW_RANK_PRODUCT_INLINE, { x: m.x, w, n, e } as never, attrs as never) as Tensor[];
      }
      const t = tf.mul(tf.matMul(m.x, n), 2.5);
      return [tf.add(tf.matMul(m.x, w), tf.mul(tf.matMul(t, e), 1.5)), t];
    },
    1,
  ));

test('MCEVAL_WEBGPU_FEW_ROWS sets the most rows; a bad value stops the run with one line', async () => {
  assert.equal(await withEnv('MCEVAL_WEBGPU_FEW_ROWS', undefined, fewRowsMost), 16);
  assert.equal(await withEnv('MCEVAL_WEBGPU_FEW_ROWS', '4', fewRowsMost), 4);
  await assert.rejects(
    withEnv('MCEVAL_WEBGPU_FEW_ROWS', 'many', fewRowsMost),
    (error: Error) =>
      error instanceof UserError && /MCEVAL_WEBGPU_FEW_ROWS=many is not a number of rows/.test(error.message),
  );
  // Rows past the setting go to the tiles.
  const five = await withEnv('MCEVAL_WEBGPU_FEW_ROWS', '4', () =>
    run(
      'webgpu',
      () => made(5, 64, [64], 8, false),
      (m) => lowRankLinears(m.x, m.layers),
    ),
  );
  assert.equal(five.fewRows, 0);
});
