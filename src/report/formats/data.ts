/**
 * A report as data: CSV (one row per task × adapter, with the comparison against --reference in the same row) and
 * JSON (the report itself, as schemas/report.schema.json describes it; non-finite numbers become null).
 */
import { toCsv } from '../csv.js';
import type { Report } from '../report-model.js';

export function renderCsv(report: Report): string {
  return toCsv(
    report.cells.map((cell) => {
      const c = report.comparisons.find((item) => item.task === cell.task && item.adapter === cell.adapter);
      return {
        metric: report.metric,
        ...cell,
        ...(c === undefined
          ? {}
          : {
              reference: c.reference,
              pairs: c.pairs,
              wins: c.wins,
              ties: c.ties,
              losses: c.losses,
              median_difference: c.medianDifference,
              ci_low: c.interval.low,
              ci_high: c.interval.high,
              wilcoxon_statistic: c.statistic,
              wilcoxon_pvalue: c.pvalue,
              wilcoxon_method: c.method,
            }),
      };
    }),
  );
}

export const REPORT_SCHEMA_VERSION = 1;

export function reportJson(report: Report): unknown {
  return JSON.parse(
    JSON.stringify({ schema_version: REPORT_SCHEMA_VERSION, ...report }, (_key, value: unknown) =>
      typeof value === 'number' && !Number.isFinite(value) ? null : value,
    ),
  );
}
