import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracy } from '../src/metrics/accuracy.js';
import { negativeLogLikelihood } from '../src/metrics/nll.js';
import { logSoftmax } from '../src/metrics/log-softmax.js';

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
