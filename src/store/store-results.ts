/**
 * The files regenerated from the store after every committed run, so they always show exactly the finished runs:
 * results.csv (a row per run, with its key and folder), summary.csv (a row per task × adapter) and results.json —
 * lm-eval's --output_path layout in spirit: per-task results, the configuration and provenance of every run, the
 * sweeps, and versions.
 */
import { resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { toCsv } from '../report/csv.js';
import { flattenRunResult, summarize, type RunResult, type SummaryRow } from '../report/results.js';
import { gitCommit, mcevalVersion } from './provenance.js';
import type { RunStore, StoredRun } from './run-store.js';

export interface ResultFiles {
  readonly results: string;
  readonly summary: string;
  readonly json: string;
}

/** A stored run as a result row (its step log and samples stay in its folder). */
export function storedRunResult(run: StoredRun): RunResult {
  return { ...run.result, log: [] };
}

export function writeStoreResults(store: RunStore): { files: ResultFiles; summary: SummaryRow[]; runs: StoredRun[] } {
  const runs = store.runs();
  const results = runs.map(storedRunResult);
  const summary = summarize(results);
  const files = {
    results: resolve(store.dir, 'results.csv'),
    summary: resolve(store.dir, 'summary.csv'),
    json: resolve(store.dir, 'results.json'),
  };
  writeFileAtomic(
    files.results,
    toCsv(runs.map((run, i) => ({ ...flattenRunResult(results[i]!), run_key: run.key, run_dir: run.dir }))),
  );
  writeFileAtomic(files.summary, toCsv(summary.map((row) => ({ ...row }))));
  writeFileAtomic(files.json, `${JSON.stringify(resultsJson(store, runs, summary), finiteOrString, 2)}\n`);
  return { files, summary, runs };
}

function resultsJson(store: RunStore, runs: readonly StoredRun[], summary: readonly SummaryRow[]) {
  const byTask: Record<string, Record<string, Omit<SummaryRow, 'task' | 'adapter'>>> = {};
  for (const { task, adapter, ...row } of summary) (byTask[task] ??= {})[adapter] = row;
  const commit = gitCommit();
  return {
    results: byTask,
    runs: runs.map((run) => ({ key: run.key, dir: run.dir, ...run.result, provenance: run.provenance })),
    sweeps: store.sweeps().map(({ keys, ...sweep }) => ({ ...sweep, runs: keys.length })),
    versions: {
      mceval: mcevalVersion(),
      ...(commit === undefined ? {} : { git_commit: commit }),
      node: process.version,
    },
  };
}

// JSON has no NaN or Infinity: a diverged run's loss is written as the string pandas would read.
function finiteOrString(_key: string, value: unknown): unknown {
  if (typeof value !== 'number' || Number.isFinite(value)) return value;
  return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
}
