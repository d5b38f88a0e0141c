/**
 * What `mceval report` shows, computed once for every format: per task × adapter the distribution of a metric across
 * the grid (median, spread, best, worst, IQR, mean ± std, runs, diverged runs) with the paper's extrinsic (median
 * accuracy) and intrinsic (1 / median NLL) robustness, and — against a reference adapter, over grid points that match
 * (same task, lr, batch size, seed) — wins/ties/losses, the Wilcoxon signed-rank test as scipy computes it, and a
 * seeded bootstrap interval of the median difference.
 */
import { UserError } from '../errors.js';
import { bootstrapMedianInterval, type BootstrapInterval } from '../metrics/bootstrap.js';
import { mean, quantile, sampleStd } from '../metrics/quantile.js';
import { wilcoxon, type WilcoxonMethod } from '../metrics/wilcoxon.js';
import { median } from '../metrics/quantile.js';
import type { StoredResult } from '../store/run-store.js';
import type { ReportRun } from './sources.js';
import { didYouMean } from '../nearest-name.js';

export interface CellStats {
  readonly task: string;
  readonly adapter: string;
  readonly runs: number;
  readonly diverged: number;
  readonly median: number;
  readonly spread: number;
  readonly best: number;
  readonly worst: number;
  readonly q1: number;
  readonly q3: number;
  readonly iqr: number;
  readonly mean: number;
  readonly std: number;
  readonly extrinsic: number;
  readonly intrinsic: number;
}

export interface Comparison {
  readonly task: string;
  readonly adapter: string;
  readonly reference: string;
  /** Grid points both adapters ran (same lr, batch size, seed). */
  readonly pairs: number;
  readonly wins: number;
  readonly ties: number;
  readonly losses: number;
  readonly statistic: number;
  readonly pvalue: number;
  readonly method: WilcoxonMethod;
  /** Median of (adapter − reference) over the pairs, and its bootstrap interval. */
  readonly medianDifference: number;
  readonly interval: BootstrapInterval;
}

export interface Report {
  readonly metric: string;
  /** For NLL a lower score is better; for every other metric a higher one. */
  readonly higherIsBetter: boolean;
  readonly tasks: readonly string[];
  readonly adapters: readonly string[];
  readonly cells: readonly CellStats[];
  readonly reference?: string;
  readonly comparisons: readonly Comparison[];
  readonly sources: readonly string[];
}

export interface ReportOptions {
  readonly metric: string;
  readonly reference?: string;
  /** Seed of the bootstrap. */
  readonly seed: number;
}

/** A run's value of the metric: a fixed column (accuracy, nll, f1, mcc) or one of its named metrics (pass@1, …). */
export function metricValue(result: StoredResult, metric: string): number | undefined {
  const fixed = (result as unknown as Record<string, unknown>)[metric];
  if (typeof fixed === 'number') return fixed;
  return result.metrics?.[metric];
}

export function availableMetrics(runs: readonly ReportRun[]): string[] {
  const names = new Set(['accuracy', 'nll']);
  for (const { result } of runs) {
    if (result.f1 !== undefined) names.add('f1');
    if (result.mcc !== undefined) names.add('mcc');
    Object.keys(result.metrics ?? {}).forEach((name) => names.add(name));
  }
  return [...names];
}

const unique = (values: readonly string[]) => [...new Set(values)];
const pointKey = (result: StoredResult) =>
  `${result.task}\u0000${result.lr}\u0000${result.batch_size}\u0000${result.seed}`;

function cellStats(
  task: string,
  adapter: string,
  runs: readonly ReportRun[],
  metric: string,
  higherIsBetter: boolean,
): CellStats {
  const values = runs.map((run) => metricValue(run.result, metric) ?? Number.NaN);
  const finite = values.filter(Number.isFinite);
  const accuracyMedian = median(runs.map((run) => run.result.accuracy));
  const nllMedian = median(runs.map((run) => run.result.nll));
  const [lowest, highest] = [Math.min(...finite), Math.max(...finite)];
  // For a loss (NLL) the best run is the lowest.
  const [best, worst] = higherIsBetter ? [highest, lowest] : [lowest, highest];
  return {
    task,
    adapter,
    runs: runs.length,
    diverged: runs.filter((run) => run.result.diverged).length,
    median: median(values),
    spread: highest - lowest,
    best,
    worst,
    q1: quantile(finite, 0.25),
    q3: quantile(finite, 0.75),
    iqr: quantile(finite, 0.75) - quantile(finite, 0.25),
    mean: mean(finite),
    std: sampleStd(finite),
    extrinsic: accuracyMedian,
    intrinsic: nllMedian > 0 ? 1 / nllMedian : Number.NaN,
  };
}

function compare(
  task: string,
  adapter: string,
  runs: readonly ReportRun[],
  referenceRuns: readonly ReportRun[],
  options: ReportOptions & { reference: string; higherIsBetter: boolean },
): Comparison | undefined {
  const referenceByPoint = new Map(referenceRuns.map((run) => [pointKey(run.result), run]));
  const pairs = runs.flatMap((run) => {
    const other = referenceByPoint.get(pointKey(run.result));
    const value = metricValue(run.result, options.metric);
    const base = other === undefined ? undefined : metricValue(other.result, options.metric);
    return value === undefined || base === undefined ? [] : [[value, base] as const];
  });
  if (pairs.length === 0) return undefined;
  const differences = pairs.map(([value, base]) => value - base);
  const better = (d: number) => (options.higherIsBetter ? d > 0 : d < 0);
  const test = wilcoxon(
    pairs.map(([value]) => value),
    pairs.map(([, base]) => base),
  );
  return {
    task,
    adapter,
    reference: options.reference,
    pairs: pairs.length,
    wins: differences.filter(better).length,
    ties: differences.filter((d) => d === 0).length,
    losses: differences.filter((d) => d !== 0 && !better(d)).length,
    statistic: test.statistic,
    pvalue: test.pvalue,
    method: test.method,
    medianDifference: median(differences),
    interval: bootstrapMedianInterval(differences, { seed: options.seed }),
  };
}

export function buildReport(runs: readonly ReportRun[], options: ReportOptions): Report {
  const metrics = availableMetrics(runs);
  if (!metrics.includes(options.metric)) {
    throw new UserError(
      `No run has the metric "${options.metric}"${didYouMean(options.metric, metrics)}: use one of ${metrics.join(', ')}.`,
    );
  }
  const tasks = unique(runs.map((run) => run.result.task));
  const adapters = unique(runs.map((run) => run.result.adapter));
  if (options.reference !== undefined && !adapters.includes(options.reference)) {
    throw new UserError(
      `--reference ${options.reference} is not an adapter of these runs${didYouMean(options.reference, adapters)}: use one of ${adapters.join(', ')}.`,
    );
  }
  const higherIsBetter = options.metric !== 'nll';
  const group = (task: string, adapter: string) =>
    runs.filter((run) => run.result.task === task && run.result.adapter === adapter);
  const cells = tasks.flatMap((task) =>
    adapters.flatMap((adapter) => {
      const members = group(task, adapter);
      return members.length === 0 ? [] : [cellStats(task, adapter, members, options.metric, higherIsBetter)];
    }),
  );
  const reference = options.reference;
  const comparisons =
    reference === undefined
      ? []
      : tasks.flatMap((task) =>
          adapters
            .filter((adapter) => adapter !== reference)
            .flatMap((adapter) => {
              const comparison = compare(task, adapter, group(task, adapter), group(task, reference), {
                ...options,
                reference,
                higherIsBetter,
              });
              return comparison === undefined ? [] : [comparison];
            }),
        );
  return {
    metric: options.metric,
    higherIsBetter,
    tasks,
    adapters,
    cells,
    ...(reference === undefined ? {} : { reference }),
    comparisons,
    sources: unique(runs.map((run) => run.source)),
  };
}

/** The best adapter of a task by median (ties: all of them), for bold cells. */
export function bestAdapters(report: Report, task: string): Set<string> {
  const cells = report.cells.filter((cell) => cell.task === task && Number.isFinite(cell.median));
  if (cells.length === 0) return new Set();
  const best = report.higherIsBetter
    ? Math.max(...cells.map((cell) => cell.median))
    : Math.min(...cells.map((cell) => cell.median));
  return new Set(cells.filter((cell) => cell.median === best).map((cell) => cell.adapter));
}
