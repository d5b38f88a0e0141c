/**
 * The rules for reusing --out: a folder holding this same sweep resumes it; one holding a different sweep is refused
 * unless --resume (add this sweep's runs to the store) or --overwrite (remove mceval's files there and start anew);
 * result files without a store (an older mceval's) are refused unless --overwrite. Nothing but mceval's own files is
 * ever removed.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { RUNS_DIR } from './run-folder.js';
import { RunStore, STORE_FILE } from './run-store.js';

export interface OutPolicy {
  readonly resume: boolean;
  readonly overwrite: boolean;
}

const MCEVAL_FILES = [
  STORE_FILE,
  `${STORE_FILE}-wal`,
  `${STORE_FILE}-shm`,
  RUNS_DIR,
  'results.csv',
  'summary.csv',
  'results.json',
  'logs',
  'samples',
];

export function hasStore(dir: string): boolean {
  return existsSync(join(dir, STORE_FILE));
}

/** Opens --out's store for the sweep `id`, applying the reuse rules. */
export function openOutStore(out: string, id: string, policy: OutPolicy): RunStore {
  if (policy.overwrite) {
    for (const name of MCEVAL_FILES) rmSync(join(out, name), { recursive: true, force: true });
  } else if (!hasStore(out) && existsSync(join(out, 'results.csv'))) {
    throw new UserError(
      `--out ${out} holds results.csv without a run store (an older mceval's): pass --overwrite to replace them, or choose another --out.`,
    );
  }
  const store = RunStore.open(out);
  const sweeps = store.sweeps();
  if (policy.resume || sweeps.length === 0 || sweeps.some((sweep) => sweep.id === id)) return store;
  const runs = store.finishedKeys().size;
  store.close();
  throw new UserError(
    `--out ${out} holds a different sweep (${runs} finished run${runs === 1 ? '' : 's'}, started by: ${sweeps[0]!.command}): ` +
      "rerun that command to resume it, pass --resume to add this sweep's runs to the same store, --overwrite to replace it, or choose another --out.",
  );
}
