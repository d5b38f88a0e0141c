/**
 * A task's data from --data: its canonical files when they are all there, else the Hugging Face exports of its hub
 * splits when the task reads them and they are all there; otherwise one line naming both places and the remedies.
 * `use` reads the splits the caller needs (scoring: the evaluation split): when it succeeds from the canonical files
 * present, the files of the other splits need not exist.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { MissingDataFile } from './data-dir.js';
import { findHubExport, hubExportPath, readHubRows } from './hub-export.js';
import type { JsonLine } from './jsonl.js';
import type { AnySplits } from './examples.js';
import type { DataSource } from './source.js';

export async function loadTaskData<Splits>(
  task: DataSource<Splits>,
  dataDir: string | undefined,
  use?: (splits: Splits) => void,
): Promise<Splits>;
export async function loadTaskData(
  task: DataSource<AnySplits>,
  dataDir: string | undefined,
  use?: (splits: AnySplits) => void,
): Promise<AnySplits>;
export async function loadTaskData<Splits>(
  task: DataSource<Splits>,
  dataDir: string | undefined,
  use?: (splits: Splits) => void,
): Promise<Splits> {
  const hub = task.hub;
  const canonical = task.dataFiles ?? [];
  if (hub === undefined || dataDir === undefined || canonical.every((file) => existsSync(join(dataDir, file)))) {
    return task.load(dataDir);
  }
  // The file the needed splits missed, when only some splits are needed: the one to name if no export stands in.
  let missingNeeded: string | undefined;
  if (use !== undefined) {
    const splits = task.load(dataDir);
    try {
      use(splits);
      return splits;
    } catch (error) {
      if (!(error instanceof MissingDataFile)) throw error;
      missingNeeded = error.relative;
    }
  }
  const exports = Object.entries(hub.splits).map(([key, split]) => ({
    key,
    split,
    files: findHubExport(dataDir, split),
  }));
  const missing = exports.find((entry) => entry.files === undefined);
  if (missing !== undefined) {
    const file = missingNeeded ?? canonical.find((name) => !existsSync(join(dataDir, name)))!;
    throw new UserError(
      `Task ${task.name}: data file not found at ${join(dataDir, file)}, nor a Hugging Face export at ` +
        `${join(dataDir, hubExportPath(missing.split))}(.parquet|.jsonl|/). Run \`mceval data pull ${task.name}\` or ` +
        `point --data (MCEVAL_DATA) at a directory with either.`,
    );
  }
  const rows: Record<string, readonly JsonLine[]> = {};
  for (const entry of exports) rows[entry.key] = await readHubRows(entry.files!);
  return hub.load(rows, dataDir);
}
