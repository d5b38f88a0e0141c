/**
 * Nightly regression checks: a candidate sweep against a baseline, run by run. Runs match by task, adapter, learning
 * rate, batch size and seed — not by mceval version or run key, so a new release compares with last night's. Per task
 * × adapter: the median and spread of the metric and the median NLL in both, their changes, and the Wilcoxon test of
 * the paired metric values. A threshold names a quantity and the direction it may move by at most so much:
 * `accuracy=-0.01` lets the median accuracy drop by 0.01, `spread=+0.02` lets the spread grow by 0.02, `nll=+0.05`
 * lets the median NLL grow by 0.05; moving the other way is always allowed.
 */
import { UserError } from '../errors.js';
import { wilcoxon, type WilcoxonMethod } from '../metrics/wilcoxon.js';
import { median } from '../metrics/quantile.js';
import { metricValue } from './report-model.js';
import type { ReportRun } from './sources.js';

export interface Threshold {
  /** accuracy (or any metric: its median), spread (of --metric), or nll (median NLL). */
  readonly quantity: string;
  /** The largest allowed move, signed: negative = may fall by |limit|, positive = may rise by limit. */
  readonly limit: number;
  readonly text: string;
}

export function parseThreshold(text: string): Threshold {
  const match = /^\s*([\w@.,-]+?)\s*=\s*([+-])\s*(\d*\.?\d+(?:e-?\d+)?)\s*$/i.exec(text);
  if (match === null) {
    throw new UserError(
      `Malformed --threshold "${text}": expected NAME=+V or NAME=-V (the sign is the direction allowed), e.g. accuracy=-0.01, spread=+0.02, nll=+0.05.`,
    );
  }
  const limit = Number(match[3]) * (match[2] === '-' ? -1 : 1);
  return { quantity: match[1]!, limit: match[2] === '-' && limit === 0 ? -0 : limit, text: text.trim() };
}

export interface Movement {
  readonly task: string;
  readonly adapter: string;
  readonly pairs: number;
  readonly baseline: { readonly median: number; readonly spread: number; readonly nll: number };
  readonly candidate: { readonly median: number; readonly spread: number; readonly nll: number };
  readonly pvalue: number;
  readonly method: WilcoxonMethod;
  /** The thresholds this task × adapter crossed, with the change that crossed each. */
  readonly violations: readonly { readonly threshold: string; readonly change: number }[];
}

export interface SweepComparison {
  readonly metric: string;
  readonly movements: readonly Movement[];
  readonly regressed: boolean;
}

const pointKey = (run: ReportRun) =>
  `${run.result.task}\u0000${run.result.adapter}\u0000${run.result.lr}\u0000${run.result.batch_size}\u0000${run.result.seed}`;

function summary(runs: readonly ReportRun[], metric: string) {
  const values = runs.map((run) => metricValue(run.result, metric) ?? Number.NaN).filter(Number.isFinite);
  return {
    median: median(values),
    spread: Math.max(...values) - Math.min(...values),
    nll: median(runs.map((run) => run.result.nll)),
  };
}

function crossed(threshold: Threshold, change: number): boolean {
  if (Number.isNaN(change)) return true;
  return Object.is(threshold.limit, -0) || threshold.limit < 0 ? change < threshold.limit : change > threshold.limit;
}

export function compareSweeps(
  baseline: readonly ReportRun[],
  candidate: readonly ReportRun[],
  options: { readonly metric: string; readonly thresholds: readonly Threshold[] },
): SweepComparison {
  const byPoint = new Map(baseline.map((run) => [pointKey(run), run]));
  const pairs = candidate.flatMap((run) => {
    const base = byPoint.get(pointKey(run));
    return base === undefined ? [] : [{ base, run }];
  });
  if (pairs.length === 0) {
    throw new UserError(
      'No run of the candidate matches one of the baseline (same task, adapter, lr, batch size and seed): compare two sweeps of the same plan.',
    );
  }
  const groups = new Map<string, typeof pairs>();
  for (const pair of pairs) {
    const key = `${pair.run.result.task}\u0000${pair.run.result.adapter}`;
    groups.set(key, [...(groups.get(key) ?? []), pair]);
  }
  const movements = [...groups.values()].map((group) => {
    const { task, adapter } = group[0]!.run.result;
    const before = summary(
      group.map((pair) => pair.base),
      options.metric,
    );
    const after = summary(
      group.map((pair) => pair.run),
      options.metric,
    );
    const test = wilcoxon(
      group.map((pair) => metricValue(pair.run.result, options.metric) ?? Number.NaN),
      group.map((pair) => metricValue(pair.base.result, options.metric) ?? Number.NaN),
    );
    const changeOf = (quantity: string): number =>
      quantity === 'spread'
        ? after.spread - before.spread
        : quantity === 'nll'
          ? after.nll - before.nll
          : median(group.map((pair) => metricValue(pair.run.result, quantity) ?? Number.NaN)) -
            median(group.map((pair) => metricValue(pair.base.result, quantity) ?? Number.NaN));
    const violations = options.thresholds.flatMap((threshold) => {
      const change = changeOf(threshold.quantity);
      return crossed(threshold, change) ? [{ threshold: threshold.text, change }] : [];
    });
    return {
      task,
      adapter,
      pairs: group.length,
      baseline: before,
      candidate: after,
      pvalue: test.pvalue,
      method: test.method,
      violations,
    };
  });
  return { metric: options.metric, movements, regressed: movements.some((movement) => movement.violations.length > 0) };
}
