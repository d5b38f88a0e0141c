/**
 * Parquet files as Hugging Face exports them (datasets' to_parquet, the hub's parquet conversion): every row as a
 * plain object under the dataset's own column names — lists as arrays, structs as objects, int64 as numbers — with a
 * `where` of "file row N" for error messages, as the JSON Lines reader gives "file:line". Snappy (the usual codec),
 * gzip, zstd, brotli and lz4 pages are read.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { UserError, errorMessage } from '../../errors.js';
import type { JsonLine } from '../jsonl.js';

/** int64 values arrive as BigInt; rows are compared and printed as JSON, so they become numbers (exact below 2^53). */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
  }
  return value;
}

export async function readParquetRows(path: string, missingHint = ''): Promise<JsonLine[]> {
  if (!existsSync(path)) throw new UserError(`Data file not found: ${path}. ${missingHint}`.trim());
  const bytes = readFileSync(path);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file, compressors });
  } catch (error) {
    throw new UserError(
      `Cannot read ${path} as Parquet (${errorMessage(error)}): replace it with a complete export of the data set.`,
    );
  }
  return rows.map((row, index) => ({
    value: plain(row) as Record<string, unknown>,
    where: `${path} row ${index + 1}`,
  }));
}
