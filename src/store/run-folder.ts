/**
 * One folder per finished run under runs/: config.json (what was asked), metrics.json (what came out),
 * provenance.json, steps.jsonl (the step log), samples.jsonl (with --log-samples) and adapter/ (the trained adapter
 * in PEFT's layout). A run is built in a hidden partial folder and renamed into place only when complete; partial
 * folders left by a killed sweep are removed on the next start.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import type { RunResult } from '../report/results.js';

export const RUNS_DIR = 'runs';
const PARTIAL_PREFIX = '.partial-';

/** NNN-<task>-<adapter>-lr<lr>-bs<bs>-<key8>: sorted by plan position, unique by key. */
export function runFolderName(
  planIndex: number,
  result: Pick<RunResult, 'task' | 'adapter' | 'lr' | 'batch_size'>,
  key: string,
): string {
  const name = `${String(planIndex + 1).padStart(3, '0')}-${result.task}-${result.adapter}-lr${result.lr}-bs${result.batch_size}-${key.slice(0, 8)}`;
  return name.replace(/[^\w.+=-]/g, '_');
}

/** The partial folder a run builds in (its adapter is saved there while the model is alive). */
export function partialRunDir(storeDir: string, key: string): string {
  return join(storeDir, RUNS_DIR, `${PARTIAL_PREFIX}${key.slice(0, 16)}-${process.pid}`);
}

export function removePartialRunDirs(storeDir: string): void {
  const runs = join(storeDir, RUNS_DIR);
  if (!existsSync(runs)) return;
  for (const name of readdirSync(runs)) {
    if (name.startsWith(PARTIAL_PREFIX)) rmSync(join(runs, name), { recursive: true, force: true });
  }
}

export interface RunFiles {
  readonly config: unknown;
  readonly result: RunResult;
  readonly provenance: unknown;
}

const jsonLines = (rows: readonly unknown[]) => rows.map((row) => `${JSON.stringify(row)}\n`).join('');

/**
 * Writes the run's files into its partial folder and renames it to `name` (replacing a folder of the same name that
 * a crash left without its row). Returns the folder's path relative to the store.
 */
export function completeRunFolder(storeDir: string, partial: string, name: string, files: RunFiles): string {
  mkdirSync(partial, { recursive: true });
  const { log, samples, ...metrics } = files.result;
  writeFileAtomic(join(partial, 'config.json'), `${JSON.stringify(files.config, null, 2)}\n`);
  writeFileAtomic(join(partial, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  writeFileAtomic(join(partial, 'provenance.json'), `${JSON.stringify(files.provenance, null, 2)}\n`);
  writeFileAtomic(join(partial, 'steps.jsonl'), jsonLines(log));
  if (samples !== undefined) writeFileAtomic(join(partial, 'samples.jsonl'), jsonLines(samples));
  const relative = join(RUNS_DIR, name);
  const target = join(storeDir, relative);
  rmSync(target, { recursive: true, force: true });
  renameSync(partial, target);
  return relative;
}
