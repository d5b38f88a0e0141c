/**
 * An encoder's LayerNorm and GELU by the webgpu kernels (engine/kernels/webgpu/layer-norm.ts and gelu.ts, through
 * models/layers/layer-norm.ts) against the same layers on wasm (tfjs ops and autodiff): outputs, input gradients and,
 * for trainable norm parameters (full fine-tuning), the weight and bias gradients — rows of 48 and of 37 features (not
 * a multiple of the workgroup), values off-centre and far from unit scale, alone and with a residual added, the
 * residual dropped as it is added, and the output read twice (passed on); GELU over −9…9, where erf saturates. Within
 * 1e-5 of the largest value. Nothing is left behind. A dropped residual and a passed output cost no dispatch of their
 * own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Variable } from '../../src/engine/tf.js';
import { gelu, layerNorm, layerNormPassing } from '../../src/models/layers/layer-norm.js';
import { drawDropout } from '../../src/engine/ops/dropout.js';
import { dispatchesWhile } from './dispatches.js';
import { GELU, GELU_GRAD } from '../../src/engine/kernels/webgpu/gelu.js';
import { LAYER_NORM, LAYER_NORM_GRAD } from '../../src/engine/kernels/webgpu/layer-norm.js';
import { assertAgree } from './agreement.js';

/** How the norm is called: alone, of x + a residual, that residual dropped, and its output read twice (passing). */
type NormCase = 'alone' | 'residual' | 'dropped' | 'passing';

const CASES: Record<NormCase, string> = {
  alone: '',
  residual: ', of x + a residual',
  dropped: ', of x + a residual dropped (rate 0.3)',
  passing: ', of x + a residual dropped, its output read twice',
};

async function norm(backend: 'wasm' | 'webgpu', hidden: number, trainable: boolean, reading: NormCase) {
  await initEngine(backend);
  if (backend === 'webgpu')
    for (const kernel of [LAYER_NORM, LAYER_NORM_GRAD]) assert.ok(tf.getKernel(kernel, 'webgpu'), kernel);
  const before = tf.memory().numTensors;
  const rng = new Rng(9);
  const x = tf.tensor3d(rng.normalArray(3 * 5 * hidden, 2, 4), [3, 5, hidden]);
  const weight = tf.tidy(() => tf.variable(tf.tensor1d(rng.normalArray(hidden, 1, 0.3)), trainable));
  const bias = tf.tidy(() => tf.variable(tf.tensor1d(rng.normalArray(hidden, 0, 0.3)), trainable));
  const dy = tf.tensor3d(rng.normalArray(3 * 5 * hidden), [3, 5, hidden]);
  const dyPassed = tf.tensor3d(rng.normalArray(3 * 5 * hidden, 0.5, 2), [3, 5, hidden]);
  const residual =
    reading === 'alone' ? undefined : tf.tensor3d(rng.normalArray(3 * 5 * hidden, -1, 2), [3, 5, hidden]);
  // The same mask on both backends: its key drawn from the seeded generator.
  const residualDropout = reading === 'dropped' || reading === 'passing' ? drawDropout(0.3, new Rng(5)) : undefined;
  const terms = residual === undefined ? [x] : [x, residual];
  const normOf = (input: Tensor, w: Variable, b: Variable, added?: Tensor) => {
    const options = { residual: added, residualDropout };
    if (reading !== 'passing') return { value: layerNorm(input, w, b, 1e-5, options) };
    const [value, passed] = layerNormPassing(input, w, b, 1e-5, options);
    return { value, passed };
  };
  // Differentiated in x (and the residual), and in the parameters where they are trainable; a passed output's upstream
  // gradient differs from the output's.
  const { value, grads } = tf.valueAndGrads((...inputs: Tensor[]) => {
    const [input, added] = inputs.slice(0, terms.length);
    const [w = weight, b = bias] = inputs.slice(terms.length) as Variable[];
    const { value: y, passed } = normOf(input!, w, b, added);
    const loss = tf.sum(tf.mul(y, dy));
    return passed === undefined ? loss : tf.add(loss, tf.sum(tf.mul(passed, dyPassed)));
  })([...terms, ...(trainable ? [weight, bias] : [])]);
  const out = tf.tidy(() => normOf(x, weight, bias, residual).value);
  const arrays = await Promise.all([out, ...grads].map(async (t) => Array.from(await t.data())));
  tf.dispose([x, weight, bias, dy, dyPassed, value, out, ...grads, ...(residual === undefined ? [] : [residual])]);
  assert.equal(tf.memory().numTensors, before);
  return arrays;
}

for (const hidden of [48, 37]) {
  for (const trainable of [false, true]) {
    for (const reading of Object.keys(CASES) as NormCase[]) {
      const parameters = `parameters ${trainable ? 'trainable' : 'frozen'}${CASES[reading]}`;
      test(`webgpu LayerNorm agrees with wasm: ${hidden} features, ${parameters}`, async () => {
        const reference = await norm('wasm', hidden, trainable, reading);
        const candidate = await norm('webgpu', hidden, trainable, reading);
        const labels = [
          'output',
          'dx',
          ...(reading === 'alone' ? [] : ['dResidual']),
          ...(trainable ? ['dw', 'db'] : []),
        ];
        assert.equal(candidate.length, labels.length);
        labels.forEach((label, i) => {
          assertAgree(label, candidate[i]!, reference[i]!, 1e-5);
        });
      });
    }
  }
}

/** Dispatches of shaders whose key has any of `parts`, over a norm's forward and backward, its output read twice. */
async function normDispatches(parts: readonly string[], passing: boolean): Promise<number> {
  await initEngine('webgpu');
  const rng = new Rng(2);
  const [x, residual, dy] = [0, 1, 2].map(() => tf.tensor2d(rng.normalArray(4 * 32), [4, 32]));
  const weight = tf.variable(tf.ones([32]), false);
  const bias = tf.variable(tf.zeros([32]), false);
  const options = (r: Tensor) => ({ residual: r, residualDropout: drawDropout(0.1, new Rng(3)) });
  const { count } = await dispatchesWhile(parts, async () => {
    const { value, grads } = tf.valueAndGrads((a: Tensor, r: Tensor) => {
      const once = (y: Tensor) => [y, y];
      const [first, second] = passing
        ? layerNormPassing(a, weight, bias, 1e-5, options(r))
        : once(layerNorm(a, weight, bias, 1e-5, options(r)));
      return tf.add(tf.sum(tf.mul(first!, dy!)), tf.sum(tf.mul(second!, dy!)));
    })([x!, residual!]);
    await Promise.all(grads.map((g) => g.data()));
    tf.dispose([value, ...grads]);
  });
  tf.dispose([x!, residual!, dy!, weight, bias]);
  return count;
}

test('a dropped residual costs no dispatch of its own, nor do the two readers of a passed output', async () => {
  // One norm forward and one backward, no mask: the residual's dropped as it is read, its gradient written beside dx.
  assert.equal(await normDispatches(['McevalLayerNorm'], true), 2);
  assert.equal(await normDispatches(['McevalDropoutMask'], true), 0);
  // Read twice as one tensor, tfjs adds the two upstream gradients: one dispatch more than passing it on.
  assert.equal((await normDispatches([''], false)) - (await normDispatches([''], true)), 1);
});

async function activation(backend: 'wasm' | 'webgpu'): Promise<number[][]> {
  await initEngine(backend);
  if (backend === 'webgpu') for (const kernel of [GELU, GELU_GRAD]) assert.ok(tf.getKernel(kernel, 'webgpu'), kernel);
  const before = tf.memory().numTensors;
  const values = Float32Array.from({ length: 1000 }, (_, i) => -9 + (18 * i) / 999);
  const x = tf.tensor2d(values, [10, 100]);
  const dy = tf.tensor2d(new Rng(4).normalArray(1000), [10, 100]);
  const { value, grads } = tf.valueAndGrads((input: Tensor) => tf.sum(tf.mul(gelu(input), dy)))([x]);
  const out = tf.tidy(() => gelu(x));
  const arrays = await Promise.all([out, ...grads].map(async (t) => Array.from(await t.data())));
  tf.dispose([x, dy, value, out, ...grads]);
  assert.equal(tf.memory().numTensors, before);
  return arrays;
}

test('webgpu GELU agrees with wasm over −9…9: output and input gradient', async () => {
  const reference = await activation('wasm');
  const candidate = await activation('webgpu');
  ['output', 'dx'].forEach((label, i) => assertAgree(label, candidate[i]!, reference[i]!, 1e-5));
});
