/**
 * `mceval data verify`: for each task, are its files under --data (or, for tasks that read them, Hugging Face exports
 * of its hub splits), do they match the known checksums, and do its loaders find the canonical record counts?
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { errorMessage } from '../errors.js';
import { fileDigest } from '../models/hub/download.js';
import { EXPECTED_COUNTS, KNOWN_FILES } from './catalog.js';
import { findHubExport } from './hub-export.js';
import { loadTaskData } from './load-task-data.js';
import type { AnySplits } from './examples.js';
import type { DataSource } from './source.js';

export interface FileCheck {
  readonly path: string;
  readonly present: boolean;
  /** undefined when no checksum is known for the file (or it is absent). */
  readonly checksumMatches?: boolean;
}

export interface TaskCheck {
  readonly task: string;
  readonly files: readonly FileCheck[];
  /** [train, eval] found by the loader, when it could load. */
  readonly counts?: readonly [number, number];
  readonly expectedCounts?: readonly [number, number];
  readonly problem?: string;
  readonly ok: boolean;
}

export async function verifyTaskData(task: DataSource<AnySplits>, dataDir: string): Promise<TaskCheck> {
  const files: FileCheck[] = [];
  for (const relative of task.dataFiles ?? []) {
    const path = join(dataDir, relative);
    const present = existsSync(path);
    const known = KNOWN_FILES[relative]?.sha256;
    files.push({
      path: relative,
      present,
      ...(present && known !== undefined ? { checksumMatches: (await fileDigest(path, 'sha256')) === known } : {}),
    });
  }
  const expectedCounts = EXPECTED_COUNTS[task.name];
  const missing = files.filter((file) => !file.present);
  const hubFiles = missing.length > 0 ? hubExportChecks(task, dataDir) : undefined;
  if (missing.length > 0 && hubFiles === undefined) {
    return {
      task: task.name,
      files,
      ...(expectedCounts ? { expectedCounts } : {}),
      problem: `missing ${missing.map((file) => file.path).join(', ')}`,
      ok: false,
    };
  }
  const checked = hubFiles ?? files;
  let counts: [number, number];
  try {
    const data = await loadTaskData(task, dataDir);
    counts = [data.train.length, 'dev' in data ? data.dev.length : data.eval.length];
  } catch (error) {
    return { task: task.name, files: checked, problem: errorMessage(error), ok: false };
  }
  const countsOk = expectedCounts === undefined || (counts[0] === expectedCounts[0] && counts[1] === expectedCounts[1]);
  const checksumsOk = checked.every((file) => file.checksumMatches !== false);
  const problems = [
    ...(countsOk ? [] : [`${counts[0]}/${counts[1]} records, expected ${expectedCounts![0]}/${expectedCounts![1]}`]),
    ...checked
      .filter((file) => file.checksumMatches === false)
      .map((file) => `${file.path} differs from the known copy`),
  ];
  return {
    task: task.name,
    files: checked,
    counts,
    ...(expectedCounts ? { expectedCounts } : {}),
    ...(problems.length > 0 ? { problem: problems.join('; ') } : {}),
    ok: countsOk && checksumsOk,
  };
}

/** The files of the task's hub exports (relative to --data), when every split it reads is there. */
function hubExportChecks(task: DataSource<AnySplits>, dataDir: string): FileCheck[] | undefined {
  if (task.hub === undefined) return undefined;
  const found = Object.values(task.hub.splits).map((split) => findHubExport(dataDir, split));
  if (found.some((files) => files === undefined)) return undefined;
  return found.flatMap((files) => files!.map((path) => ({ path: relative(dataDir, path), present: true })));
}
