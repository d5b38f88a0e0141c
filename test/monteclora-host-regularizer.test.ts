/**
 * The host form of MonteCLoRA's regulariser (host-regularizer.ts: one op, value and gradient in float64) against its
 * definition, kl.ts's tfjs ops (themselves checked against scipy in monteclora.test.ts): the four terms and their
 * gradients with respect to the covariance, weights, s and α, for each variant that changes the formulas.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { cooperativeLoss, dirichletKl, gaussianKl, wishartKl } from '../src/peft/monteclora/kl.js';
import { deviceDigamma, deviceLgamma } from '../src/peft/monteclora/special-functions.js';
import { hostRegularizerTerms, type RegularizerShape } from '../src/peft/monteclora/host-regularizer.js';
import { onEachBackend } from './helpers.js';

const L = 3;
const r = 4;
const N = 5;

/** Relative error ‖a − b‖ / max(‖b‖, 1e-6), elementwise sums. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-6);
}

onEachBackend(() => {
  for (const [label, variant] of [
    ['the paper', { outerSamples: 1, referenceSign: false, randomPrior: false }],
    ['M = 3 outer samples', { outerSamples: 3, referenceSign: false, randomPrior: false }],
    ["the reference code's Dirichlet KL sign", { outerSamples: 1, referenceSign: true, randomPrior: false }],
    ['a random Dirichlet prior per layer', { outerSamples: 2, referenceSign: false, randomPrior: true }],
  ] as const)
    test(`host regulariser terms and gradients match kl.ts's ops to 1e-5 (${label})`, () => {
      const rng = new Rng(31);
      const M = variant.outerSamples;
      const shape: RegularizerShape = { components: N, outerSamples: M, referenceSign: variant.referenceSign };
      const positive = (count: number, low: number) => rng.uniformArray(count).map((u) => low + 3 * u);
      const covariance = tf.tensor2d(positive(L * M * r, 1e-3), [L * M, r]);
      const weights = tf.softmax(tf.tensor2d(rng.normalArray(L * M * N), [L * M, N]));
      const s = tf.tensor2d(
        rng.normalArray(L * r).map((v) => 0.5 * v),
        [L, r],
      );
      const alpha = tf.tensor2d(positive(L * N, 0.2), [L, N]);
      const prior = variant.randomPrior ? tf.tensor2d(positive(L * N, 0.5), [L, N]) : 0.7;
      const upstream = tf.tensor1d([0.3, -1.1, 0.7, 2]);
      // kl.ts with the device (tfjs-op) lgamma and digamma: the definition the host op must reproduce.
      const deviceDirichletKl = (a: Tensor) =>
        tf.tidy(() => {
          const priorAlpha = typeof prior === 'number' ? tf.fill(a.shape, prior) : prior;
          const total = tf.sum(a, -1, true);
          const normaliser = tf.sum(tf.sub(deviceLgamma(total), deviceLgamma(tf.sum(priorAlpha, -1, true))));
          const perComponent = tf.sum(tf.sub(deviceLgamma(a), deviceLgamma(priorAlpha)));
          const expectation = tf.sum(tf.mul(tf.sub(a, priorAlpha), tf.sub(deviceDigamma(a), deviceDigamma(total))));
          const signed = variant.referenceSign ? tf.add(normaliser, perComponent) : tf.sub(normaliser, perComponent);
          return tf.add(signed, expectation);
        });
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const reference = (c: Tensor, w: Tensor, sv: Tensor, a: Tensor) =>
          tf.stack([tf.div(gaussianKl(c, N), M), wishartKl(sv), deviceDirichletKl(a), tf.div(cooperativeLoss(w), M)]);
        const host = (c: Tensor, w: Tensor, sv: Tensor, a: Tensor) => hostRegularizerTerms(c, w, sv, a, prior, shape);
        const inputs = [covariance, weights, s, alpha];
        // The host ops (lgamma, digamma in float64) are kl.ts's own on cpu and wasm: both must agree with them too.
        const hostKl = dirichletKl(alpha, prior, variant.referenceSign).dataSync()[0]!;
        const expected = reference(covariance, weights, s, alpha).dataSync();
        const actual = host(covariance, weights, s, alpha).dataSync();
        assert.ok(relativeError(actual, expected) < 1e-5, `terms ${actual} vs ${expected}`);
        assert.ok(
          Math.abs(actual[2]! - hostKl) <= 1e-5 * Math.max(1, Math.abs(hostKl)),
          `KL_D ${actual[2]} vs ${hostKl}`,
        );
        const weigh = (f: typeof reference) => (c: Tensor, w: Tensor, sv: Tensor, a: Tensor) =>
          tf.sum(tf.mul(f(c, w, sv, a), upstream));
        const expectedGrads = tf.grads(weigh(reference))(inputs);
        tf.grads(weigh(host))(inputs).forEach((g, i) =>
          assert.ok(relativeError(g.dataSync(), expectedGrads[i]!.dataSync()) < 1e-5, `gradient ${i}`),
        );
      });
      assert.equal(tf.memory().numTensors, before);
      [covariance, weights, s, alpha, upstream, ...(typeof prior === 'number' ? [] : [prior])].forEach((t) =>
        t.dispose(),
      );
    });
});
