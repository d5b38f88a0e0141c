/** CSV text for results and summaries (written with writeFileAtomic). */
import { stringify } from 'csv-stringify/sync';

type Cell = string | number | boolean;

/** The union of the rows' columns, in first-seen order, so rows of different methods share one file. */
export function csvColumns(rows: readonly Record<string, Cell>[]): string[] {
  const columns: string[] = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  return columns;
}

export function toCsv(rows: readonly Record<string, Cell>[]): string {
  const columns = csvColumns(rows);
  return stringify(
    rows.map((row) => columns.map((column) => formatCell(row[column]))),
    { header: true, columns },
  );
}

/** Numbers at full precision; NaN and ±∞ spelled as pandas reads them. */
function formatCell(value: Cell | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'nan';
    if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  }
  return String(value);
}
