/**
 * An encoder's LayerNorm and GELU by the webgpu kernels (engine/kernels/webgpu/layer-norm.ts and gelu.ts, through
 * models/layers/layer-norm.ts) against the same layers on wasm (tfjs ops and autodiff): outputs, input gradients and,
 * for trainable norm parameters (full fine-tuning), the weight and bias gradients — rows of 48 and of 37 features (not
 * a multiple of the workgroup), values off-centre and far from unit scale, alone and with a residual added; GELU over
 * −9…9, where erf saturates. Within 1e-5 of the largest value. Nothing is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Variable } from '../../src/engine/tf.js';
import { gelu, layerNorm } from '../../src/models/layers/layer-norm.js';
import { GELU, GELU_GRAD } from '../../src/engine/kernels/webgpu/gelu.js';
import { LAYER_NORM, LAYER_NORM_GRAD } from '../../src/engine/kernels/webgpu/layer-norm.js';
import { assertAgree } from './agreement.js';

async function norm(backend: 'wasm' | 'webgpu', hidden: number, trainable: boolean, summed: boolean) {
  await initEngine(backend);
  if (backend === 'webgpu')
    for (const kernel of [LAYER_NORM, LAYER_NORM_GRAD]) assert.ok(tf.getKernel(kernel, 'webgpu'), kernel);
  const before = tf.memory().numTensors;
  const rng = new Rng(9);
  const x = tf.tensor3d(rng.normalArray(3 * 5 * hidden, 2, 4), [3, 5, hidden]);
  const weight = tf.tidy(() => tf.variable(tf.tensor1d(rng.normalArray(hidden, 1, 0.3)), trainable));
  const bias = tf.tidy(() => tf.variable(tf.tensor1d(rng.normalArray(hidden, 0, 0.3)), trainable));
  const dy = tf.tensor3d(rng.normalArray(3 * 5 * hidden), [3, 5, hidden]);
  const residual = summed ? tf.tensor3d(rng.normalArray(3 * 5 * hidden, -1, 2), [3, 5, hidden]) : undefined;
  const terms = residual === undefined ? [x] : [x, residual];
  // Differentiated in x (and the residual), and in the parameters where they are trainable.
  const { value, grads } = tf.valueAndGrads((...inputs: Tensor[]) => {
    const [input, added] = inputs.slice(0, terms.length);
    const [w = weight, b = bias] = inputs.slice(terms.length) as Variable[];
    return tf.sum(tf.mul(layerNorm(input!, w, b, 1e-5, added), dy));
  })([...terms, ...(trainable ? [weight, bias] : [])]);
  const out = tf.tidy(() => layerNorm(x, weight, bias, 1e-5, residual));
  const arrays = await Promise.all([out, ...grads].map(async (t) => Array.from(await t.data())));
  tf.dispose([x, weight, bias, dy, value, out, ...grads, ...(residual === undefined ? [] : [residual])]);
  assert.equal(tf.memory().numTensors, before);
  return arrays;
}

for (const hidden of [48, 37]) {
  for (const trainable of [false, true]) {
    for (const summed of [false, true]) {
      const parameters = `parameters ${trainable ? 'trainable' : 'frozen'}${summed ? ', of x + a residual' : ''}`;
      test(`webgpu LayerNorm agrees with wasm: ${hidden} features, ${parameters}`, async () => {
        const reference = await norm('wasm', hidden, trainable, summed);
        const candidate = await norm('webgpu', hidden, trainable, summed);
        const labels = ['output', 'dx', ...(summed ? ['dResidual'] : []), ...(trainable ? ['dw', 'db'] : [])];
        assert.equal(candidate.length, labels.length);
        labels.forEach((label, i) => {
          assertAgree(label, candidate[i]!, reference[i]!, 1e-5);
        });
      });
    }
  }
}

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
