/** The three tables of a report as text cells, shared by the terminal, Markdown, LaTeX and HTML renderings. */
import { bestAdapters, type Report } from '../report-model.js';

export function fixed(value: number, digits = 4): string {
  return Number.isFinite(value) ? value.toFixed(digits) : Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
}

export function pValue(value: number): string {
  return !Number.isFinite(value) ? 'nan' : value < 1e-4 ? value.toExponential(2) : value.toFixed(4);
}

export interface TextTable {
  readonly title: string;
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
  /** Per row, per column: whether the cell is the column's best (set in bold where the format can). */
  readonly best?: readonly (readonly boolean[])[];
}

/** The paper's table: adapters × tasks, each cell the median (spread) across the grid. */
export function robustnessTable(report: Report): TextTable {
  const best = new Map(report.tasks.map((task) => [task, bestAdapters(report, task)]));
  const rows = report.adapters.map((adapter) =>
    report.tasks.map((task) => {
      const cell = report.cells.find((c) => c.task === task && c.adapter === adapter);
      return cell === undefined ? '—' : `${fixed(cell.median)} (${fixed(cell.spread)})`;
    }),
  );
  return {
    title: `Median ${report.metric} (spread) across the grid`,
    head: ['adapter', ...report.tasks],
    rows: rows.map((cells, i) => [report.adapters[i]!, ...cells]),
    best: report.adapters.map((adapter) => [false, ...report.tasks.map((task) => best.get(task)!.has(adapter))]),
  };
}

export function detailTable(report: Report): TextTable {
  return {
    title: `${report.metric} per task × adapter`,
    head: [
      'task',
      'adapter',
      'runs',
      'best',
      'median',
      'worst',
      'spread',
      'IQR',
      'mean ± std',
      'extrinsic',
      'intrinsic',
    ],
    rows: report.cells.map((cell) => [
      cell.task,
      cell.adapter,
      cell.diverged > 0 ? `${cell.runs} (${cell.diverged} diverged)` : String(cell.runs),
      fixed(cell.best),
      fixed(cell.median),
      fixed(cell.worst),
      fixed(cell.spread),
      fixed(cell.iqr),
      `${fixed(cell.mean)} ± ${fixed(cell.std)}`,
      fixed(cell.extrinsic),
      fixed(cell.intrinsic),
    ]),
  };
}

export function comparisonTable(report: Report): TextTable | undefined {
  if (report.reference === undefined) return undefined;
  return {
    title: `Against ${report.reference} on matching grid points (Wilcoxon signed-rank, two-sided; bootstrap 95% CI)`,
    head: ['task', 'adapter', 'pairs', 'win/tie/loss', 'median Δ', '95% CI', 'W', 'p', 'method'],
    rows: report.comparisons.map((c) => [
      c.task,
      c.adapter,
      String(c.pairs),
      `${c.wins}/${c.ties}/${c.losses}`,
      fixed(c.medianDifference),
      `[${fixed(c.interval.low)}, ${fixed(c.interval.high)}]`,
      fixed(c.statistic, 1),
      pValue(c.pvalue),
      c.method,
    ]),
  };
}

export function reportTables(report: Report): TextTable[] {
  const comparisons = comparisonTable(report);
  return [robustnessTable(report), detailTable(report), ...(comparisons === undefined ? [] : [comparisons])];
}
