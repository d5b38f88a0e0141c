/**
 * MonteCLoRA's regulariser terms by the webgpu kernels (peft/monteclora/kernel-regularizer.ts) against the float64
 * host op (host-regularizer.ts, itself tested against kl.ts's ops) on wasm, from the same values: the four terms and
 * the gradients of a weighted sum of them for the covariance, weights, s and α — with a covariance below the 1e-6
 * clamp, concentrations from 1e-6 to 20, the paper's and the published code's Dirichlet sign, and a random prior
 * tensor. float32 against float64: within 2e-5 of each output's largest value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { hostRegularizerTerms, type RegularizerTermsOp } from '../../src/peft/monteclora/host-regularizer.js';
import { assertAgree } from './agreement.js';
import { hasRegularizerKernel, kernelRegularizerTerms } from '../../src/peft/monteclora/kernel-regularizer.js';

const [L, M, N, R] = [5, 2, 3, 4];

async function evaluate(
  backend: 'wasm' | 'webgpu',
  terms: RegularizerTermsOp,
  referenceSign: boolean,
  randomPrior: boolean,
) {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const rng = new Rng(21);
  const covariance = rng.uniformArray(L * M * R, 0.05, 3);
  covariance[3] = 5e-7;
  const alpha = rng.uniformArray(L * N, 0.2, 20);
  alpha[0] = 1e-6;
  const inputs = [
    tf.tensor2d(covariance, [L * M, R]),
    tf.tensor2d(rng.uniformArray(L * M * N), [L * M, N]),
    tf.tensor2d(rng.uniformArray(L * R, -1, 1), [L, R]),
    tf.tensor2d(alpha, [L, N]),
  ];
  const prior = randomPrior ? tf.tensor2d(rng.uniformArray(L * N, 0.5, 2), [L, N]) : 0.7;
  const upstream = tf.tensor1d([0.3, -1.1, 0.7, 2.0]);
  const shape = { components: N, outerSamples: M, referenceSign };
  const { value, grads } = tf.valueAndGrads((...x: Tensor[]) =>
    tf.sum(tf.mul(terms(x[0]!, x[1]!, x[2]!, x[3]!, prior, shape), upstream)),
  )(inputs);
  const values = tf.tidy(() => terms(inputs[0]!, inputs[1]!, inputs[2]!, inputs[3]!, prior, shape));
  const arrays = await Promise.all([values, ...grads].map((t) => t.data()));
  tf.dispose([...inputs, upstream, value, values, ...grads, ...(typeof prior === 'number' ? [] : [prior])]);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the terms`);
  return arrays.map((array) => Array.from(array as Float32Array));
}

for (const referenceSign of [false, true]) {
  for (const randomPrior of [false, true]) {
    test(`webgpu regulariser kernels agree with the float64 host terms (reference sign ${referenceSign}, random prior ${randomPrior})`, async () => {
      const reference = await evaluate('wasm', hostRegularizerTerms, referenceSign, randomPrior);
      await initEngine('webgpu');
      assert.ok(hasRegularizerKernel(), 'the webgpu kernels are registered');
      const candidate = await evaluate('webgpu', kernelRegularizerTerms, referenceSign, randomPrior);
      ['terms', 'd covariance', 'd weights', 'd s', 'd alpha'].forEach((label, i) =>
        assertAgree(label, candidate[i]!, reference[i]!, 2e-5),
      );
    });
  }
}
