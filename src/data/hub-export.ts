/**
 * Hugging Face exports of a task's data, read under the data set's own column names. One split of one hub data set
 * lives under --data at hub/<repo>/<config>/<split> — a `.parquet`, `.jsonl` or `.jsonl.gz` file (what datasets'
 * to_parquet / to_json write), or a folder of Parquet shards (what `mceval data pull` fetches from the hub's parquet
 * conversion), read in name order.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonLines, type JsonLine } from './jsonl.js';
import { readParquetRows } from './loaders/parquet.js';

/** One split of a hub data set: `load_dataset(repo, config, split=split)`. */
export interface HubSplit {
  readonly repo: string;
  readonly config: string;
  readonly split: string;
}

/** How a task reads hub exports: the splits it needs, by a name of its own, and how their rows become its data. */
export interface HubSource<Splits> {
  readonly splits: Readonly<Record<string, HubSplit>>;
  /** Builds the task's data from the rows; may still read canonical files the hub does not have (`dataDir`). */
  load(rows: Readonly<Record<string, readonly JsonLine[]>>, dataDir: string): Splits;
}

const FILE_SUFFIXES = ['.parquet', '.jsonl', '.jsonl.gz'];

/** The export's folder path without suffix, relative to --data: hub/<repo>/<config>/<split>. */
export function hubExportPath(split: HubSplit): string {
  return join('hub', split.repo, split.config, split.split);
}

/** The files holding one split under `dataDir`, or undefined when it is not there. */
export function findHubExport(dataDir: string, split: HubSplit): string[] | undefined {
  const base = join(dataDir, hubExportPath(split));
  const file = FILE_SUFFIXES.map((suffix) => base + suffix).find((path) => existsSync(path));
  if (file !== undefined) return [file];
  if (!existsSync(base) || !statSync(base).isDirectory()) return undefined;
  const shards = readdirSync(base)
    .filter((name) => name.endsWith('.parquet'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((name) => join(base, name));
  return shards.length === 0 ? undefined : shards;
}

/** Every row of one exported split, shards in order. */
export async function readHubRows(files: readonly string[]): Promise<JsonLine[]> {
  const rows: JsonLine[] = [];
  for (const file of files) {
    rows.push(...(file.endsWith('.parquet') ? await readParquetRows(file) : readJsonLines(file, 'a JSON object', '')));
  }
  return rows;
}
