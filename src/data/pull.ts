/**
 * `mceval data pull TASK`: fetches what a task reads into --data. Files published as plain files (GSM8K, HumanEval
 * and MBPP at pinned commits, LLM-Adapters' instruction files) are downloaded to their canonical paths, verified
 * against their known sha256 and resumed if interrupted; what remains comes from the hub when the task reads hub
 * exports (GLUE, SuperGLUE, ARC, the commonsense sets): their splits from the hub's parquet conversion, under
 * hub/<repo>/<config>/<split>/. MCEVAL_DATA_ENDPOINT replaces https://raw.githubusercontent.com, HF_ENDPOINT the hub.
 */
import { existsSync } from 'node:fs';
import { makeFolders, removeEmptyFolders } from '../made-folders.js';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { downloadFile } from '../models/hub/download.js';
import { KNOWN_FILES } from './catalog.js';
import { findHubExport, hubExportPath } from './hub-export.js';
import { pullHubSplit } from './hub-pull.js';
import { loadTaskData } from './load-task-data.js';
import type { AnySplits } from './examples.js';
import type { DataSource } from './source.js';

const GITHUB_RAW = 'https://raw.githubusercontent.com';

/** Pulls the task's data; returns the paths (relative to --data) it fetched. */
export async function pullTaskData(task: DataSource<AnySplits>, dataDir: string): Promise<string[]> {
  const files = task.dataFiles ?? [];
  if (files.length === 0) throw new UserError(`Task ${task.name} ships with mceval: there is nothing to pull.`);
  const pulled: string[] = [];
  for (const file of files.filter((name) => KNOWN_FILES[name]?.url !== undefined)) {
    if (await pullPlainFile(file, dataDir)) pulled.push(file);
  }
  const unavailable = files.filter((file) => !existsSync(join(dataDir, file)));
  if (unavailable.length === 0) return pulled;
  if (task.hub === undefined) {
    throw new UserError(
      `mceval cannot download ${unavailable.join(', ')} for ${task.name}: fetch them from the data set's own ` +
        `release and point --data at that directory.`,
    );
  }
  for (const split of Object.values(task.hub.splits)) {
    if (findHubExport(dataDir, split) !== undefined) continue;
    await pullHubSplit(split, dataDir);
    pulled.push(hubExportPath(split));
  }
  // The hub may hold only part of what the task reads (the zero-shot sets' evaluation split, not their
  // LLM-Adapters fine-tuning file): loading once says what is still missing.
  try {
    await loadTaskData(task, dataDir);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    const done = pulled.length === 0 ? 'Nothing new was pulled' : `Pulled ${pulled.join(', ')}`;
    throw new UserError(`${done}, but ${task.name} still cannot load: ${error.message}`);
  }
  return pulled;
}

async function pullPlainFile(file: string, dataDir: string): Promise<boolean> {
  const target = join(dataDir, file);
  if (existsSync(target)) return false;
  const known = KNOWN_FILES[file]!;
  const endpoint = process.env['MCEVAL_DATA_ENDPOINT'];
  const url = endpoint === undefined ? known.url! : known.url!.replace(GITHUB_RAW, endpoint.replace(/\/$/, ''));
  const made = makeFolders(dirname(target));
  try {
    await downloadFile(url, target, {}, known.sha256);
  } catch (error) {
    // No empty folder is left behind; a partial file a rerun resumes is kept, with its folders.
    removeEmptyFolders(made);
    if (error instanceof UserError) throw error;
    throw new UserError(
      `Could not download ${url} (${(error as Error).message}): check the network, or copy the file to ${target}.`,
    );
  }
  return true;
}
