/**
 * Tab-separated files as GLUE ships them: no quoting (csv.QUOTE_NONE), an optional UTF-8 byte-order mark, an
 * optional header row; every row must have the header's column count, or the error names file and line.
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../../errors.js';

export interface TsvRows {
  readonly header: readonly string[] | undefined;
  /** Each row's cells and its 1-based line number. */
  readonly rows: readonly { readonly cells: readonly string[]; readonly line: number }[];
}

export function readTsv(path: string, options: { header: boolean; columns?: number }): TsvRows {
  const text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  if (lines.length === 0) throw new UserError(`${path} is empty: expected tab-separated rows. Download it again.`);
  if (options.header && lines.length === 1) {
    throw new UserError(`${path} has a header but no rows: the file is cut short. Download it again.`);
  }
  const header = options.header ? lines[0]!.split('\t') : undefined;
  const expected = header?.length ?? options.columns;
  const rows = lines.slice(options.header ? 1 : 0).map((line, i) => {
    const cells = line.split('\t');
    const lineNumber = i + (options.header ? 2 : 1);
    if (expected !== undefined && cells.length !== expected) {
      throw new UserError(
        `Malformed row at ${path}:${lineNumber}: ${cells.length} tab-separated columns, expected ${expected}.`,
      );
    }
    return { cells, line: lineNumber };
  });
  return { header, rows };
}

/** A column's index by header name, or an error naming the file and the columns it has. */
export function column(tsv: TsvRows, name: string, path: string): number {
  const index = tsv.header?.indexOf(name) ?? -1;
  if (index < 0) throw new UserError(`${path} has no column "${name}" (it has: ${tsv.header?.join(', ')}).`);
  return index;
}
