/**
 * Low-rank layers split at their dropout (engine/ops/low-rank-linear.ts's splitsAtDropout, DoRA's under dropout),
 * with plain layers reading the same x in one op: without a column scale a split layer's rest + dropped equals the
 * unsplit layer's output, and the gradients of x, A, B, a perturbation and a residual equal its, within 1e-5 of the
 * largest value (the same terms summed another way). The op refuses a split layer without a dropout and a column-scaled
 * layer beside split ones, and the column-scale wrapper refuses split layers. DoRA's layer under dropout against
 * PEFT's sum is dora.test.ts's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor2D } from '../src/engine/tf.js';
import { lowRankLinears } from '../src/engine/ops/low-rank-linear.js';
import { withColumnScales } from '../src/engine/ops/column-scales.js';
import { onEachBackend } from './helpers.js';
import { assertAgree } from './webgpu/agreement.js';
import { runSplitCase, type SplitCase } from './split-dropout-case.js';

const CASES: SplitCase[] = [
  { tokens: 5, inFeatures: 13, widths: [9], rank: 3, splits: [true], bias: true, residual: true, perturbation: true },
  {
    tokens: 6,
    inFeatures: 16,
    widths: [12, 8, 20],
    rank: 4,
    splits: [true, true, true],
    bias: true,
    residual: true,
    perturbation: false,
  },
  {
    tokens: 4,
    inFeatures: 11,
    widths: [7, 5, 9],
    rank: 2,
    splits: [false, true, false],
    bias: false,
    residual: true,
    perturbation: true,
  },
];

onEachBackend(() => {
  for (const c of CASES)
    test(`layers split at their dropout equal the unsplit layers: ${c.widths.length} layers, splits ${c.splits.join(' ')}`, async () => {
      const [split, whole] = [await runSplitCase(c), await runSplitCase(c, false)];
      assert.equal(split.arrays.length, split.labels.length);
      split.labels.forEach((label, i) => assertAgree(label, split.arrays[i]!, whole.arrays[i]!, 1e-5));
    });

  test('a split layer needs a dropout; a column-scaled layer does not go beside split ones', () => {
    const before = tf.memory().numTensors;
    const [x, w, a, b] = [
      tf.ones([2, 4]),
      tf.ones([4, 3]) as Tensor2D,
      tf.ones([4, 2]) as Tensor2D,
      tf.ones([2, 3]) as Tensor2D,
    ];
    const dropout = { key: 1, threshold: 2 ** 31, scale: 2 };
    const scale = { magnitude: tf.ones([3]), norms: () => tf.ones([3]) };
    const layer = (update: object) => ({ weight: w, update: { a, b, scaling: 1, ...update } });
    assert.throws(() => lowRankLinears(x, [layer({ splitAtDropout: true })]), /split at its dropout has none/);
    assert.throws(
      () => lowRankLinears(x, [layer({ splitAtDropout: true, dropout }), layer({ columnScale: scale })]),
      /column-scaled layer beside/,
    );
    assert.throws(
      () => withColumnScales([layer({ splitAtDropout: true, dropout })], () => []),
      /split at its dropout is scaled by lowRankLinears/,
    );
    tf.dispose([x, w, a, b, scale.magnitude]);
    assert.equal(tf.memory().numTensors, before);
  });
});
