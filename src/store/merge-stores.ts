/**
 * `mceval merge OUT SHARD…`: the shard stores of one sweep joined into OUT. Every shard must come from the same plan
 * (and OUT, if it holds a store, too): a mismatch is refused, naming both folders. By default every shard of the plan
 * must be present and finished — a partial merge would read as a whole sweep — unless `partial`. Each run's folder is
 * copied in before its row is committed, runs already in OUT are kept, and the result files are rewritten.
 */
import { cpSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { hasStore } from './open-out.js';
import { partialRunDir, removePartialRunDirs } from './run-folder.js';
import { RunStore, STORE_FILE, type SweepRecord } from './run-store.js';
import { writeStoreResults, type ResultFiles } from './store-results.js';

export interface MergeOutcome {
  readonly merged: number;
  readonly total: number;
  readonly planSize: number;
  readonly files: ResultFiles;
}

interface Shard {
  readonly dir: string;
  readonly store: RunStore;
  readonly sweeps: readonly SweepRecord[];
}

function openShard(dir: string): Shard {
  if (!hasStore(dir)) {
    throw new UserError(
      `${dir} has no run store (${STORE_FILE}): pass the --out folders of "mceval run --shard i/n" runs.`,
    );
  }
  const store = RunStore.open(dir);
  return { dir, store, sweeps: store.sweeps() };
}

function checkSamePlan(shards: readonly Shard[], out: string, outSweeps: readonly SweepRecord[]): SweepRecord {
  const all = [
    ...shards.flatMap((shard) => shard.sweeps.map((sweep) => ({ dir: shard.dir, sweep }))),
    ...outSweeps.map((sweep) => ({ dir: out, sweep })),
  ];
  const first = all[0];
  if (first === undefined) throw new UserError('The shard stores hold no sweep: run "mceval run --shard i/n" first.');
  const other = all.find((entry) => entry.sweep.planId !== first.sweep.planId);
  if (other !== undefined) {
    throw new UserError(
      `${other.dir} holds runs of a different sweep than ${first.dir} (plan ${other.sweep.planId.slice(0, 12)} vs ` +
        `${first.sweep.planId.slice(0, 12)}): merge only the shards of one "mceval plan", with the same flags.`,
    );
  }
  return first.sweep;
}

/** What is missing for a whole sweep, counting OUT's runs too: shards never run, and runs not finished anywhere. */
function missingParts(shards: readonly Shard[], planSweep: SweepRecord, out: OutState): string[] {
  const problems: string[] = [];
  const count = Number(planSweep.shard?.split('/')[1] ?? 1);
  const sweeps = [...shards.flatMap((shard) => shard.sweeps), ...out.sweeps];
  const present = new Set(sweeps.map((sweep) => sweep.shard ?? '0/1'));
  const absent = Array.from({ length: count }, (_, i) => `${i}/${count}`).filter((shard) => !present.has(shard));
  if (absent.length > 0) problems.push(`shard${absent.length === 1 ? '' : 's'} ${absent.join(', ')} not given`);
  const finished = new Set([...out.finished, ...shards.flatMap((shard) => [...shard.store.finishedKeys()])]);
  for (const shard of shards) {
    for (const sweep of shard.sweeps) {
      const done = sweep.keys.filter((key) => finished.has(key)).length;
      if (done < sweep.keys.length) {
        problems.push(
          `${shard.dir} (shard ${sweep.shard ?? 'whole'}) has ${done} of ${sweep.keys.length} runs finished`,
        );
      }
    }
  }
  return problems;
}

interface OutState {
  readonly sweeps: readonly SweepRecord[];
  readonly finished: ReadonlySet<string>;
}

function outState(out: string): OutState {
  if (!hasStore(out)) return { sweeps: [], finished: new Set() };
  const store = RunStore.open(out);
  try {
    return { sweeps: store.sweeps(), finished: store.finishedKeys() };
  } finally {
    store.close();
  }
}

export function mergeStores(out: string, shardDirs: readonly string[], options: { partial: boolean }): MergeOutcome {
  const shards = shardDirs.map((dir) => openShard(resolve(dir)));
  try {
    const existing = outState(out);
    const planSweep = checkSamePlan(shards, out, existing.sweeps);
    const problems = missingParts(shards, planSweep, existing);
    if (problems.length > 0 && !options.partial) {
      throw new UserError(
        `Not the whole sweep: ${problems.join('; ')}. Finish or add them (rerun a shard's command to resume it), or pass --partial.`,
      );
    }
    const target = RunStore.open(out);
    try {
      removePartialRunDirs(out);
      const known = target.finishedKeys();
      let merged = 0;
      for (const shard of shards) {
        shard.sweeps.forEach((sweep) => target.recordSweep(sweep));
        for (const run of shard.store.runs()) {
          if (known.has(run.key)) continue;
          // The folder whole in place first, then the row that points at it.
          const partial = partialRunDir(out, run.key);
          cpSync(join(shard.dir, run.dir), partial, { recursive: true });
          rmSync(join(out, run.dir), { recursive: true, force: true });
          renameSync(partial, join(out, run.dir));
          if (target.commitRun(run)) merged += 1;
          known.add(run.key);
        }
      }
      const { files, runs } = writeStoreResults(target);
      return { merged, total: runs.length, planSize: planSweep.planSize, files };
    } finally {
      target.close();
    }
  } finally {
    shards.forEach((shard) => shard.store.close());
  }
}
