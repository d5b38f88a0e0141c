/**
 * The statistics `mceval report` and `mceval compare` use: the Wilcoxon signed-rank test against scipy.stats.wilcoxon's
 * own output (fixtures/stats/wilcoxon-scipy.json, recorded by scripts/record-wilcoxon.py with scipy 1.17.1 / numpy
 * 2.4.6 — every branch of method="auto": exact, permutation, asymptotic; ties; zeros), and the seeded bootstrap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { packagePath } from '../src/paths.js';
import { signedRankDistribution, wilcoxon } from '../src/metrics/wilcoxon.js';
import { bootstrapMedianInterval } from '../src/metrics/bootstrap.js';
import { quantile, sampleStd } from '../src/metrics/quantile.js';

interface GoldenCase {
  readonly name: string;
  readonly x: number[];
  readonly y?: number[];
  readonly statistic: number | 'nan';
  readonly pvalue: number | 'nan';
  readonly method: string;
}

const golden = JSON.parse(readFileSync(packagePath('fixtures', 'stats', 'wilcoxon-scipy.json'), 'utf8')) as {
  provenance: { scipy: string };
  cases: GoldenCase[];
};

function assertRelative(actual: number, expected: number | 'nan', label: string): void {
  if (expected === 'nan') return assert.ok(Number.isNaN(actual), `${label}: ${actual} is not NaN`);
  const scale = Math.max(Math.abs(expected), Number.MIN_VALUE);
  assert.ok(Math.abs(actual - expected) / scale <= 1e-12, `${label}: ${actual} vs scipy ${expected}`);
}

test(`Wilcoxon signed-rank test: statistic, p-value and method equal scipy ${golden.provenance.scipy}'s (1e-12 relative)`, () => {
  const methods = new Set<string>();
  for (const c of golden.cases) {
    const result = wilcoxon(c.x, c.y);
    assert.equal(result.method, c.method, c.name);
    assertRelative(result.statistic, c.statistic, `${c.name} statistic`);
    assertRelative(result.pvalue, c.pvalue, `${c.name} p-value`);
    methods.add(c.method);
  }
  assert.deepEqual([...methods].sort(), ['asymptotic', 'exact', 'permutation']);
  assert.ok(golden.cases.some((c) => c.name.includes('ties')) && golden.cases.some((c) => c.name.includes('zeros')));
});

test('the exact null distribution sums to one and is symmetric', () => {
  const pmf = signedRankDistribution(10);
  assert.equal(pmf.length, 56);
  assert.ok(Math.abs(pmf.reduce((a, b) => a + b, 0) - 1) < 1e-15);
  for (let i = 0; i < pmf.length; i++) assert.equal(pmf[i], pmf[pmf.length - 1 - i]);
  assert.equal(pmf[0], 2 ** -10);
});

test('bootstrap interval of the median difference: the same seed gives the same interval', () => {
  const differences = [0.0625, 0, 0.0625, 0.125, -0.0625, 0.0625, 0.0625, 0.125, 0];
  const first = bootstrapMedianInterval(differences, { seed: 7, resamples: 2000 });
  assert.deepEqual(bootstrapMedianInterval(differences, { seed: 7, resamples: 2000 }), first);
  assert.notDeepEqual(bootstrapMedianInterval(differences, { seed: 8, resamples: 2000 }).low, Number.NaN);
  assert.ok(first.low <= 0.0625 && 0.0625 <= first.high, `${first.low}…${first.high}`);
  assert.equal(first.level, 0.95);
});

test("quantiles as numpy.percentile's default (linear) computes them; sample standard deviation", () => {
  // np.percentile([1, 2, 3, 4], [25, 50, 75]) → [1.75, 2.5, 3.25]
  assert.deepEqual(
    [0.25, 0.5, 0.75].map((q) => quantile([4, 1, 3, 2], q)),
    [1.75, 2.5, 3.25],
  );
  assert.equal(quantile([5], 0.9), 5);
  // np.std([2, 4, 4, 4, 5, 5, 7, 9], ddof=1) → 2.138089935299395
  assert.equal(sampleStd([2, 4, 4, 4, 5, 5, 7, 9]), 2.138089935299395);
});
