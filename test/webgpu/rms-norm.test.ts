/**
 * RMSNorm by the webgpu kernels (engine/kernels/webgpu/rms-norm.ts, through models/layers/rms-norm.ts) against the
 * same layer on wasm (tfjs ops): output, input gradient and, for a trainable weight, its gradient — rows of 48 and of
 * 37 features (not a multiple of the workgroup), values far from unit scale; and the residual stream passed through
 * the norm (rmsNormPassing: its other gradient added by the kernel). Within 1e-5 of the largest value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Variable } from '../../src/engine/tf.js';
import { rmsNorm, rmsNormPassing } from '../../src/models/layers/rms-norm.js';
import { RMS_NORM } from '../../src/engine/kernels/webgpu/rms-norm.js';
import { assertAgree } from './agreement.js';

async function run(backend: 'wasm' | 'webgpu', hidden: number, trainable: boolean, passing = false) {
  await initEngine(backend);
  if (backend === 'webgpu') assert.ok(tf.getKernel(RMS_NORM, 'webgpu'), 'the webgpu kernels are registered');
  const before = tf.memory().numTensors;
  const rng = new Rng(9);
  const x = tf.tensor3d(rng.normalArray(3 * 5 * hidden, 0, 4), [3, 5, hidden]);
  const weight = tf.tidy(() => tf.variable(tf.tensor1d(rng.normalArray(hidden, 1, 0.3)), trainable));
  const dy = tf.tensor3d(rng.normalArray(3 * 5 * hidden), [3, 5, hidden]);
  const dz = tf.tensor3d(rng.normalArray(3 * 5 * hidden), [3, 5, hidden]);
  const norm = (input: Tensor, w: Variable) => {
    if (!passing) return tf.sum(tf.mul(rmsNorm(input, w, 1e-5), dy));
    const [normed, passed] = rmsNormPassing(input, w, 1e-5);
    return tf.add(tf.sum(tf.mul(normed, dy)), tf.sum(tf.mul(passed, dz)));
  };
  // valueAndGrads hands back the tensors it was given: wi is the weight variable itself. A frozen weight is no input
  // of the op (it has no gradient), as in training, where only trainable variables are asked for.
  const { value, grads } = tf.valueAndGrads((...inputs: Tensor[]) =>
    norm(inputs[0]!, (inputs[1] ?? weight) as Variable),
  )(trainable ? [x, weight] : [x]);
  const out = tf.tidy(() => rmsNorm(x, weight, 1e-5));
  const arrays = await Promise.all([out, ...grads].map(async (t) => Array.from(await t.data())));
  tf.dispose([x, weight, dy, dz, value, out, ...grads]);
  assert.equal(tf.memory().numTensors, before);
  return arrays;
}

for (const hidden of [48, 37]) {
  for (const [trainable, passing] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    const name = `${hidden} features, weight ${trainable ? 'trainable' : 'frozen'}${passing ? ', stream passed' : ''}`;
    test(`webgpu RMSNorm agrees with wasm: ${name}`, async () => {
      const reference = await run('wasm', hidden, trainable!, passing);
      const candidate = await run('webgpu', hidden, trainable!, passing);
      ['output', 'dx'].forEach((label, i) => assertAgree(label, candidate[i]!, reference[i]!, 1e-5));
      if (trainable) assertAgree('dw', candidate[2]!, reference[2]!, 1e-5);
    });
  }
}
