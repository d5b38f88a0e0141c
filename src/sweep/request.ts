/**
 * `mceval run`'s flags turned into a validated sweep request: every task, preset, grid value, folder and model spec
 * the user typed is checked, and each task's data loaded and cut, before the engine makes its first tensor.
 * Independent of oclif, so the rules are testable on their own.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import { resolveBackendRequest, type BackendChoice, type BackendRequest } from '../engine/backends.js';
import { resolveDataDir } from '../data/data-dir.js';
import type { DataLimits } from '../data/limit.js';
import { loadTask } from '../runners/index.js';
import { trainingMixture, writeTrainingMixture } from '../data/train-mixture.js';
import { modelArchitecture, resolveModelSpec, validateModelSpec } from '../models/load.js';
import { loadPreset, withBatchShape, type AdapterPreset } from '../peft/preset.js';
import { ensureWritableDirectory } from '../report/output-dir.js';
import { undoneOnFailure } from '../made-folders.js';
import { limitTask, promptTargetsOf } from '../runners/index.js';
import { resolveTasks } from '../tasks/registry.js';
import type { LoadedTask, Task } from '../tasks/types.js';
import { autoFrom, type EvalBatchSetting } from '../runners/eval-batch.js';
import type { AccumulationSetting } from '../train/auto-accumulation.js';
import { parseGridFlags, type Grid } from './grid.js';
import type { SweepOptions } from './run-sweep.js';
import { parseShard, type Shard } from './shard.js';
import type { SaveAdapters, StoreSettings } from './stored-sweep.js';

/** The flags of `mceval run`, as oclif parses them. */
export interface RunFlags {
  readonly task: readonly string[];
  readonly adapter: readonly string[];
  readonly model: string;
  readonly grid?: readonly string[];
  readonly data?: string;
  readonly limit?: number;
  readonly 'train-file'?: string;
  readonly 'train-limit'?: number;
  readonly 'train-mixture'?: number;
  readonly samples: number;
  readonly temperature: number;
  readonly 'top-p': number;
  readonly 'log-samples': boolean;
  readonly quiet?: boolean;
  readonly seed: number;
  readonly 'grad-accum'?: AccumulationSetting;
  readonly 'pad-to-multiple-of'?: number;
  readonly 'group-by-length'?: boolean;
  readonly 'eval-batch-size'?: number | 'auto';
  readonly 'max-eval-batch-size'?: number;
  readonly epochs?: number;
  readonly out: string;
  readonly backend?: string;
  readonly jobs?: number;
  readonly resume?: boolean;
  readonly overwrite?: boolean;
  readonly 'save-adapters'?: string;
  readonly shard?: string;
}

/** Everything a sweep needs but the engine, which the caller starts from `backend`. */
export interface SweepRequest {
  readonly sweep: Omit<SweepOptions, 'backend'>;
  readonly backend: BackendRequest;
  /** --out, resolved and proven writable. */
  readonly out: string;
  /** The folders made for --out (undoneOnFailure, for what the command does before its store is made). */
  readonly madeFolders: readonly string[];
  /** --jobs, when given. */
  readonly jobs?: number;
  readonly store: Omit<StoreSettings, 'out' | 'threads' | 'command'>;
}

export async function resolveSweepRequest(flags: RunFlags): Promise<SweepRequest> {
  const tasks = resolveTasks(flags.task);
  const presets = presetsOf(flags);
  const gridFlags = flags.grid ?? [];
  presets.forEach((preset) => gridOf(preset, gridFlags));
  const shard = flags.shard === undefined ? undefined : parseShard(flags.shard);
  const evalBatch = checkRunFlags(flags);
  const out = resolve(flags.out);
  const made = ensureWritableDirectory(out);
  const request = await undoneOnFailure(made, () =>
    requestWithOut(flags, { tasks, presets, gridFlags, shard, evalBatch, out }),
  );
  return { ...request, madeFolders: made };
}

/** What resolveSweepRequest checked before making --out. */
interface CheckedFlags {
  readonly tasks: readonly Task[];
  readonly presets: readonly AdapterPreset[];
  readonly gridFlags: readonly string[];
  readonly shard: Shard | undefined;
  readonly evalBatch: { evalBatchSize?: EvalBatchSetting };
  readonly out: string;
}

async function requestWithOut(flags: RunFlags, checked: CheckedFlags): Promise<Omit<SweepRequest, 'madeFolders'>> {
  const { tasks, presets, gridFlags, shard, evalBatch, out } = checked;
  const backend = resolveBackendRequest(flags.backend);
  // A hub id downloads only after everything cheap to check has passed.
  const modelSpec = await resolveModelSpec(flags.model);
  validateModelSpec(modelSpec);
  if (modelArchitecture(modelSpec) === 'encoder') checkEncoderSweep(modelSpec, tasks);

  const dataDir = resolveDataDir(flags.data);
  // A sweep that only evaluates (the baseline) needs no training split: a test split alone is enough, as in lm-eval.
  const withoutTraining = presets.every((preset) => preset.method.evaluatesOnly === true);
  const loaded: LoadedTask[] = [];
  for (const task of tasks) loaded.push(await loadTask(task, dataDir, { evaluationOnly: withoutTraining }));
  const limits: DataLimits = withoutTraining
    ? { evalLimit: flags.limit, withoutTraining }
    : {
        evalLimit: flags.limit,
        trainLimit: flags['train-limit'],
        trainFile: flags['train-mixture'] === undefined ? flags['train-file'] : mixtureFile(loaded, out, flags),
      };
  return {
    sweep: {
      tasks: loaded.map((task) => limitTask(task, limits)),
      presets,
      modelSpec,
      grid: (preset: AdapterPreset) => gridOf(preset, gridFlags),
      epochs: flags.epochs,
      seed: flags.seed,
      ...(flags['grad-accum'] === undefined ? {} : { gradientAccumulation: flags['grad-accum'] }),
      ...evalBatch,
      dataDir,
      limits,
      logSamples: flags['log-samples'],
      decoding: { samples: flags.samples, temperature: flags.temperature, topP: flags['top-p'], seed: flags.seed },
    },
    backend,
    out,
    jobs: flags.jobs,
    store: {
      resume: flags.resume === true,
      overwrite: flags.overwrite === true,
      ...(flags['save-adapters'] === undefined ? {} : { saveAdapters: flags['save-adapters'] as SaveAdapters }),
      ...(shard === undefined ? {} : { shard }),
    },
  };
}

/** The number of runs the flags plan (tasks × each preset's grid), without loading any data. */
export function countPlannedRuns(flags: Pick<RunFlags, 'task' | 'adapter' | 'grid'>): number {
  const points = presetsOf(flags).map((preset) => {
    const grid = gridOf(preset, flags.grid ?? []);
    return grid.lr.length * grid.bs.length;
  });
  return resolveTasks(flags.task).length * points.reduce((a, b) => a + b, 0);
}

/**
 * --adapter lora,monteclora and repeated --adapter both name several presets; --pad-to-multiple-of and
 * --group-by-length set each one's batch shaping.
 */
function presetsOf(flags: Pick<RunFlags, 'adapter' | 'pad-to-multiple-of' | 'group-by-length'>): AdapterPreset[] {
  const shape = {
    padToMultipleOf: flags['pad-to-multiple-of'],
    // --group-by-length true, --no-group-by-length false; absent, the preset's.
    groupByLength: flags['group-by-length'],
  };
  return flags.adapter
    .flatMap((value) => value.split(','))
    .map((name) => withBatchShape(loadPreset(name.trim()), shape));
}

/** A preset's grid under --grid; the baseline trains nothing, so its one point is not multiplied. */
function gridOf(preset: AdapterPreset, gridFlags: readonly string[]): Grid {
  return preset.method.evaluatesOnly === true ? preset.grid : parseGridFlags(gridFlags, preset.grid);
}

/**
 * The checks of the flags that read nothing else (but the task names): `mceval plan` makes them too, so that no array
 * task is queued only to fail on them. The evaluation batch setting they give.
 */
export function checkRunFlags(flags: RunFlags): { evalBatchSize?: EvalBatchSetting } {
  checkDecoding(flags);
  checkTrainingReplacement(flags, resolveTasks(flags.task));
  return evalBatchOption(flags);
}

/** --eval-batch-size, with where auto starts (--max-eval-batch-size, which only auto reads). */
function evalBatchOption(flags: RunFlags): { evalBatchSize?: EvalBatchSetting } {
  const [setting, most] = [flags['eval-batch-size'], flags['max-eval-batch-size']];
  if (most !== undefined && setting !== 'auto') {
    throw new UserError(
      `--max-eval-batch-size sets where --eval-batch-size auto starts: add --eval-batch-size auto, or drop it${
        setting === undefined ? '' : ` (--eval-batch-size ${setting} is the size itself)`
      }.`,
    );
  }
  if (setting === undefined) return {};
  return { evalBatchSize: setting === 'auto' && most !== undefined ? autoFrom(most) : setting };
}

function checkDecoding(flags: RunFlags): void {
  if (flags.samples > 1 && flags.temperature === 0) {
    throw new UserError(
      `--samples ${flags.samples} with greedy decoding would draw the same completion ${flags.samples} times: add --temperature (e.g. 0.8).`,
    );
  }
}

/** --train-file and --train-mixture replace prompt → target pairs, which classification tasks do not train on. */
function checkTrainingReplacement(flags: RunFlags, tasks: readonly Task[]): void {
  const replacing =
    flags['train-file'] !== undefined
      ? '--train-file'
      : flags['train-mixture'] !== undefined
        ? '--train-mixture'
        : undefined;
  const classification = tasks.find((task) => task.kind === 'classification');
  if (replacing !== undefined && classification !== undefined) {
    throw new UserError(
      `${replacing} replaces the fine-tuning pairs of generation and multiple-choice tasks; ${classification.name} is a classification task.`,
    );
  }
}

/** An encoder classifies: no generation or multiple-choice task. */
function checkEncoderSweep(modelSpec: string, tasks: readonly Task[]): void {
  const other = tasks.find((task) => task.kind !== 'classification');
  if (other !== undefined) {
    throw new UserError(
      `${modelSpec} is an encoder, which mceval runs on classification tasks only; ${other.name} is a ${other.kind} ` +
        'task: give it a llama model, or pick classification tasks (`mceval tasks`).',
    );
  }
}

/** --train-mixture: one seeded sample pooled from every task's fine-tuning pairs, written to --out. */
function mixtureFile(loaded: readonly LoadedTask[], out: string, flags: RunFlags): string {
  const sets = loaded.map((task) => promptTargetsOf(task) ?? []);
  return writeTrainingMixture(out, trainingMixture(sets, flags['train-mixture']!, flags.seed));
}

/**
 * Grid points trained at once: --jobs, else one per core — but 1 with tfjs-node (multi-threaded itself) and with
 * WebGPU (one device, which each worker thread would otherwise open again).
 */
export function sweepJobs(requested: number | undefined, choice: BackendChoice, runs: number): number {
  const single = choice.tfName === 'tensorflow' || choice.tfName === 'webgpu';
  return requested ?? (single ? 1 : Math.min(availableParallelism(), runs));
}
