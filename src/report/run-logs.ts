/** The per-run files beside results.csv: one step log per run under logs/, one sample log per run under samples/. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import type { RunResult } from './results.js';

/** The file name of a run's logs: NNN-<task>-<adapter>-lr<lr>-bs<bs>.jsonl. */
export function runFileName(run: RunResult, index: number): string {
  return `${String(index + 1).padStart(3, '0')}-${run.task}-${run.adapter}-lr${run.lr}-bs${run.batch_size}.jsonl`;
}

function writeJsonLinesPerRun(
  dir: string,
  runs: readonly RunResult[],
  lines: (run: RunResult) => readonly unknown[],
): void {
  mkdirSync(dir, { recursive: true });
  runs.forEach((run, index) => {
    writeFileAtomic(
      join(dir, runFileName(run, index)),
      lines(run)
        .map((line) => `${JSON.stringify(line)}\n`)
        .join(''),
    );
  });
}

/** logs/: a line per training step (lr, loss, gradient norm, adapter diagnostics). */
export function writeTrainingLogs(dir: string, runs: readonly RunResult[]): void {
  writeJsonLinesPerRun(dir, runs, (run) => run.log);
}

/** --log-samples, samples/: a line per evaluated example. */
export function writeSampleLogs(dir: string, runs: readonly RunResult[]): void {
  writeJsonLinesPerRun(dir, runs, (run) => run.samples ?? []);
}
