/** Writes a finished sweep under --out: results.csv, summary.csv, the step logs and (with --log-samples) sample logs. */
import { resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { toCsv } from './csv.js';
import { flattenRunResult, type RunResult, type SummaryRow } from './results.js';
import { writeSampleLogs, writeTrainingLogs } from './run-logs.js';

export interface ResultFiles {
  readonly results: string;
  readonly summary: string;
}

export function writeSweepResults(
  out: string,
  runs: readonly RunResult[],
  summary: readonly SummaryRow[],
  logSamples: boolean,
): ResultFiles {
  const files = { results: resolve(out, 'results.csv'), summary: resolve(out, 'summary.csv') };
  writeFileAtomic(files.results, toCsv(runs.map(flattenRunResult)));
  writeFileAtomic(files.summary, toCsv(summary.map((row) => ({ ...row }))));
  writeTrainingLogs(resolve(out, 'logs'), runs);
  if (logSamples) writeSampleLogs(resolve(out, 'samples'), runs);
  return files;
}
