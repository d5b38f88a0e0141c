/**
 * A metric's median per task × adapter over time, one point per nightly store (or results.json), dated by when its
 * last run finished.
 */
import { median } from '../metrics/quantile.js';
import { metricValue } from './report-model.js';
import type { ReportRun } from './sources.js';

export interface HistoryPoint {
  readonly source: string;
  /** ISO time the source's last run finished (its provenance), or "unknown". */
  readonly date: string;
  readonly task: string;
  readonly adapter: string;
  readonly median: number;
  readonly runs: number;
}

export function historyPoints(sources: readonly (readonly ReportRun[])[], metric: string): HistoryPoint[] {
  const points = sources.flatMap((runs) => {
    const finished = runs.map((run) => run.provenance?.finished).filter((time): time is string => time !== undefined);
    const date = finished.length === 0 ? 'unknown' : finished.sort().at(-1)!;
    const groups = new Map<string, ReportRun[]>();
    for (const run of runs) {
      const key = `${run.result.task}\u0000${run.result.adapter}`;
      groups.set(key, [...(groups.get(key) ?? []), run]);
    }
    return [...groups.values()].map((group) => ({
      source: group[0]!.source,
      date,
      task: group[0]!.result.task,
      adapter: group[0]!.result.adapter,
      median: median(group.map((run) => metricValue(run.result, metric) ?? Number.NaN)),
      runs: group.length,
    }));
  });
  return points.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
}
