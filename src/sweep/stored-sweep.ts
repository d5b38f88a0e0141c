/**
 * A sweep run through the store in --out: every grid point gets its key; the ones already finished there are
 * skipped; each run that finishes gets its folder (adapter saved while the model was alive, then config, metrics,
 * provenance, step log and samples), is renamed into place and committed as one row, and the result files are
 * regenerated — so a sweep killed at any moment loses at most the runs it was computing, and rerunning the same
 * command finishes it without redoing or duplicating a run.
 */
import { join } from 'node:path';
import { hostname } from 'node:os';
import { rmSync } from 'node:fs';
import type { SummaryRow } from '../report/results.js';
import { summarize } from '../report/results.js';
import { savesAdapters } from '../peft/save-trained.js';
import type { AdapterPreset } from '../peft/preset.js';
import { dataFileHashes, modelSha256, splitsSha256 } from '../store/checksums.js';
import { openOutStore, type OutPolicy } from '../store/open-out.js';
import {
  deviceName,
  gitCommit,
  mcevalVersion,
  peakRssBytes,
  type RunProvenance,
  type SweepProvenance,
} from '../store/provenance.js';
import { completeRunFolder, partialRunDir, removePartialRunDirs, runFolderName } from '../store/run-folder.js';
import { runKey, sweepId } from '../store/run-key.js';
import type { RunStore, StoredRun } from '../store/run-store.js';
import { storedRunResult, writeStoreResults, type ResultFiles } from '../store/store-results.js';
import { planSweep, type SweepEvent, type SweepJob, type SweepOptions, type SweepPlanEntry } from './run-sweep.js';
import { formatShard, inShard, type Shard } from './shard.js';

export type SaveAdapters = 'none' | 'best' | 'all';

export interface StoreSettings extends OutPolicy {
  readonly out: string;
  /** Default: all for adapters, none for full fine-tuning. */
  readonly saveAdapters?: SaveAdapters;
  readonly shard?: Shard;
  /** The command line, recorded with the sweep. */
  readonly command: string;
  /** Grid points trained at once. */
  readonly threads: number;
}

/** Runs the jobs it is given (in this thread or on workers), reporting through onEvent. */
export type SweepExecutor = (jobs: readonly SweepJob[], onEvent: (event: SweepEvent) => void) => Promise<unknown>;

export interface StoredSweepPlan {
  /** The jobs left to run. */
  readonly jobs: readonly SweepJob[];
  /** This sweep's runs already finished in --out. */
  readonly skipped: number;
  /** This sweep's size (the shard's, when sharded). */
  readonly size: number;
  run(execute: SweepExecutor, onEvent: (event: SweepEvent) => void): Promise<StoredSweepOutcome>;
  close(): void;
}

export interface StoredSweepOutcome {
  /** This sweep's runs, finished now or before, in plan order. */
  readonly runs: readonly StoredRun[];
  readonly summary: readonly SummaryRow[];
  readonly files: ResultFiles;
}

interface KeyedEntry {
  readonly planIndex: number;
  readonly key: string;
  readonly entry: SweepPlanEntry;
}

export async function prepareStoredSweep(options: SweepOptions, settings: StoreSettings): Promise<StoredSweepPlan> {
  const version = mcevalVersion();
  const plan = planSweep(options);
  const dataSha256 = new Map(options.tasks.map((task) => [task.task.name, splitsSha256(task.data)]));
  // Each task's canonical files, hashed once for every run of the sweep.
  const dataFiles = new Map<string, Record<string, string>>();
  for (const task of options.tasks) {
    dataFiles.set(task.task.name, await dataFileHashes(options.dataDir, task.task.dataFiles));
  }
  const context = {
    modelSpec: options.modelSpec,
    modelSha256: await modelSha256(options.modelSpec, version),
    dataSha256,
    seed: options.seed,
    gradientAccumulation: options.gradientAccumulation,
    limits: options.limits ?? {},
    decoding: options.decoding,
    evalBatchSize: options.evalBatchSize,
    backend: options.backend,
    mcevalVersion: version,
  };
  // A grid value given twice is one run.
  const seen = new Set<string>();
  const keyed: KeyedEntry[] = [];
  plan.forEach((entry, planIndex) => {
    const key = runKey(entry, context);
    if (!seen.has(key)) keyed.push({ planIndex, key, entry });
    seen.add(key);
  });
  const mine = keyed.filter((_, position) => inShard(position, settings.shard));
  const id = sweepId(mine.map((run) => run.key));
  const store = openOutStore(settings.out, id, settings);
  removePartialRunDirs(settings.out);
  store.recordSweep({
    id,
    planId: sweepId(keyed.map((run) => run.key)),
    shard: settings.shard === undefined ? undefined : formatShard(settings.shard),
    keys: mine.map((run) => run.key),
    planSize: keyed.length,
    command: settings.command,
    created: new Date().toISOString(),
  });
  const finished = store.finishedKeys();
  const todo = mine.filter((run) => !finished.has(run.key));
  const saving = (preset: AdapterPreset) =>
    savesAdapters(preset) && (settings.saveAdapters ?? (preset.method.name === 'full' ? 'none' : 'all')) !== 'none';
  const jobs = todo.map(({ planIndex, key, entry }) => ({
    planIndex,
    entry,
    ...(saving(entry.preset) ? { adapterDir: join(partialRunDir(settings.out, key), 'adapter') } : {}),
  }));
  const commit = gitCommit();
  const base: SweepProvenance = {
    mceval_version: version,
    ...(commit === undefined ? {} : { git_commit: commit }),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    hostname: hostname(),
    backend: options.backend,
    device: deviceName(options.backend),
    threads: settings.threads,
    seed: options.seed,
    model: { spec: options.modelSpec, sha256: context.modelSha256 },
    limits: {
      ...(options.limits?.evalLimit === undefined ? {} : { limit: options.limits.evalLimit }),
      ...(options.limits?.trainLimit === undefined ? {} : { train_limit: options.limits.trainLimit }),
      ...(options.limits?.trainFile === undefined ? {} : { train_file: options.limits.trainFile }),
    },
    ...(settings.shard === undefined ? {} : { shard: formatShard(settings.shard) }),
  };
  const keyOf = new Map(todo.map((run) => [run.planIndex, run.key]));
  const mineKeys = new Set(mine.map((run) => run.key));
  let closed = false;
  const close = () => {
    if (!closed) store.close();
    closed = true;
  };

  return {
    jobs,
    skipped: mine.length - todo.length,
    size: mine.length,
    close,
    async run(execute, onEvent) {
      const started = new Map<number, Date>();
      const persist = (job: SweepJob, result: Parameters<typeof completeRunFolder>[3]['result']) => {
        const key = keyOf.get(job.planIndex)!;
        const { entry } = job;
        const begin = started.get(job.planIndex) ?? new Date();
        const end = new Date();
        const provenance: RunProvenance = {
          ...base,
          run_key: key,
          data: {
            task: entry.task.task.name,
            sha256: dataSha256.get(entry.task.task.name)!,
            files: dataFiles.get(entry.task.task.name)!,
          },
          examples: { train: result.train_examples, eval: result.eval_examples },
          started: begin.toISOString(),
          finished: end.toISOString(),
          wall_seconds: (end.getTime() - begin.getTime()) / 1000,
          peak_rss_bytes: peakRssBytes(),
        };
        const config = runConfig(key, job, options, settings.shard);
        const dir = completeRunFolder(
          settings.out,
          partialRunDir(settings.out, key),
          runFolderName(job.planIndex, result, key),
          { config, result, provenance },
        );
        const { log: _log, samples: _samples, ...stored } = result;
        store.commitRun({ key, planIndex: job.planIndex, sweep: id, dir, result: stored, provenance });
        writeStoreResults(store);
      };
      try {
        await execute(jobs, (event) => {
          if (event.kind === 'run-start') started.set(jobs[event.index]!.planIndex, new Date());
          if (event.kind === 'run-end') persist(event.job, event.result);
          onEvent(event);
        });
        if (settings.saveAdapters === 'best') keepBestAdapters(store, mineKeys);
        const { files } = writeStoreResults(store);
        const runs = store.runs().filter((run) => mineKeys.has(run.key));
        return { runs, summary: summarize(runs.map(storedRunResult)), files };
      } finally {
        close();
      }
    },
  };
}

/** What was asked of a run, as its config.json says it. */
function runConfig(key: string, job: SweepJob, options: SweepOptions, shard: Shard | undefined) {
  const { entry } = job;
  return {
    run_key: key,
    plan_index: job.planIndex,
    ...(shard === undefined ? {} : { shard: formatShard(shard) }),
    task: entry.task.task.name,
    task_kind: entry.task.kind,
    adapter: entry.preset.name,
    method: entry.preset.method.name,
    preset_source: entry.preset.source,
    adapter_config: entry.preset.adapterConfig,
    training: entry.preset.training,
    lr: entry.point.lr,
    batch_size: entry.point.bs,
    epochs: entry.epochs,
    seed: options.seed,
    model: options.modelSpec,
    backend: options.backend,
    limits: options.limits ?? {},
    decoding: options.decoding ?? null,
    // The flags that override the preset or the kind, where given (auto: the count or size found is in the row).
    ...(options.gradientAccumulation === undefined ? {} : { grad_accum: options.gradientAccumulation }),
    ...(options.evalBatchSize === undefined ? {} : { eval_batch_size: options.evalBatchSize }),
  };
}

/** --save-adapters best: only the best run (by accuracy) of each task × adapter keeps its adapter. */
function keepBestAdapters(store: RunStore, keys: ReadonlySet<string>): void {
  const groups = new Map<string, StoredRun[]>();
  for (const run of store.runs().filter((stored) => keys.has(stored.key))) {
    const group = `${run.result.task}\u0000${run.result.adapter}`;
    groups.set(group, [...(groups.get(group) ?? []), run]);
  }
  for (const runs of groups.values()) {
    const best = runs.reduce((a, b) => (b.result.accuracy > a.result.accuracy ? b : a));
    for (const run of runs) {
      if (run !== best) rmSync(join(store.dir, run.dir, 'adapter'), { recursive: true, force: true });
    }
  }
}
