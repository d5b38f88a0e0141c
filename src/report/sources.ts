/**
 * The runs a report reads: from run stores (`--out` folders, merged shard stores included) or from results.json files
 * (a store's own, or one copied from last night). A run present in several sources (the same key) counts once.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError, errorMessage } from '../errors.js';
import type { RunProvenance } from '../store/provenance.js';
import { hasStore } from '../store/open-out.js';
import { RunStore, STORE_FILE, type StoredResult } from '../store/run-store.js';

export interface ReportRun {
  readonly key: string;
  readonly result: StoredResult;
  readonly provenance?: RunProvenance;
  /** The run's folder (its steps.jsonl), when the source has it. */
  readonly dir?: string;
  /** The source it came from. */
  readonly source: string;
}

function fromStore(dir: string): ReportRun[] {
  const store = RunStore.open(dir);
  try {
    return store.runs().map((run) => ({
      key: run.key,
      result: run.result,
      provenance: run.provenance,
      dir: join(dir, run.dir),
      source: dir,
    }));
  } finally {
    store.close();
  }
}

// results.json spells non-finite numbers as pandas reads them.
const NUMBERS: Readonly<Record<string, number>> = { nan: Number.NaN, inf: Infinity, '-inf': -Infinity };

function revive(_key: string, value: unknown): unknown {
  return typeof value === 'string' && value in NUMBERS ? NUMBERS[value] : value;
}

function fromResultsJson(file: string): ReportRun[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'), revive);
  } catch (error) {
    throw new UserError(
      `${file} is not valid JSON (${errorMessage(error)}): pass a run store folder or its results.json.`,
    );
  }
  const runs = (parsed as { runs?: unknown }).runs;
  if (
    !Array.isArray(runs) ||
    runs.some((run) => typeof run !== 'object' || run === null || typeof run.key !== 'string')
  ) {
    throw new UserError(
      `${file} has no "runs" list of mceval runs: pass a run store folder or the results.json mceval wrote.`,
    );
  }
  return (runs as Record<string, unknown>[]).map(({ key, dir, provenance, ...result }) => ({
    key: key as string,
    result: result as unknown as StoredResult,
    ...(provenance === undefined ? {} : { provenance: provenance as RunProvenance }),
    ...(typeof dir === 'string' ? { dir: resolve(dirname(file), dir) } : {}),
    source: file,
  }));
}

/** One source: a folder holding a run store, or a results.json file. */
export function readRuns(path: string): ReportRun[] {
  const full = resolve(path);
  if (!existsSync(full))
    throw new UserError(`${path} does not exist: pass a run store folder (--out of mceval run) or a results.json.`);
  if (statSync(full).isDirectory()) {
    if (!hasStore(full))
      throw new UserError(`${path} has no run store (${STORE_FILE}): pass the --out folder of "mceval run".`);
    return fromStore(full);
  }
  return fromResultsJson(full);
}

export function readAllRuns(paths: readonly string[]): ReportRun[] {
  const seen = new Set<string>();
  const runs: ReportRun[] = [];
  for (const run of paths.flatMap(readRuns)) {
    if (seen.has(run.key)) continue;
    seen.add(run.key);
    runs.push(run);
  }
  if (runs.length === 0) throw new UserError(`No finished runs in ${paths.join(', ')}: run "mceval run" first.`);
  return runs;
}
