/** The robustness table printed at the end of `mceval run`. */
import Table from 'cli-table3';
import type { SummaryRow } from './results.js';

function fixed(value: number, digits = 4): string {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

export function renderSummaryTable(rows: readonly SummaryRow[]): string {
  const table = new Table({
    head: [
      'task',
      'adapter',
      'runs',
      'best acc',
      'median acc',
      'worst acc',
      'spread',
      'median NLL',
      'extrinsic',
      'intrinsic',
    ],
    style: { head: [], border: [] },
  });
  for (const row of rows) {
    const runs = row.diverged_runs > 0 ? `${row.runs} (${row.diverged_runs} diverged)` : String(row.runs);
    table.push([
      row.task,
      row.adapter,
      runs,
      fixed(row.best_accuracy),
      fixed(row.median_accuracy),
      fixed(row.worst_accuracy),
      fixed(row.spread_accuracy),
      fixed(row.median_nll),
      fixed(row.extrinsic_robustness),
      fixed(row.intrinsic_robustness),
    ]);
  }
  return table.toString();
}

/** The metrics table of `mceval score`: one row per metric, with how many examples it covers. */
export function renderMetricsTable(
  task: string,
  metrics: Readonly<Record<string, number>>,
  scored: number,
  total: number,
): string {
  const table = new Table({ head: ['task', 'metric', 'value', 'examples'], style: { head: [], border: [] } });
  for (const [metric, value] of Object.entries(metrics)) table.push([task, metric, fixed(value), `${scored}/${total}`]);
  return table.toString();
}
