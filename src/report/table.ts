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
