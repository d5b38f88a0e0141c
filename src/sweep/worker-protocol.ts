/** The messages between the sweep's main thread and its worker threads (structured-clone safe). */
import type { StepProgress } from '../train/fine-tune.js';
import type { BackendRequest } from '../engine/backends.js';
import type { RunResult } from '../report/results.js';
import type { GridPoint } from './grid.js';
import type { DataLimits } from '../data/limit.js';
import type { DecodingSettings } from '../tasks/types.js';
import type { EvalBatchSetting } from '../runners/eval-batch.js';
import type { AccumulationSetting } from '../train/auto-accumulation.js';
import type { TrainingDefaults } from '../peft/preset.js';

/** What a worker needs to rebuild a plan entry: names and paths, not objects. */
export interface WorkerJob {
  readonly index: number;
  readonly taskName: string;
  readonly presetSource: string;
  /** The preset's training settings as the sweep has them (--pad-to-multiple-of and --group-by-length set). */
  readonly training: TrainingDefaults;
  readonly point: GridPoint;
  readonly epochs: number;
  /** Where to save the trained adapter, if anywhere. */
  readonly adapterDir?: string;
}

export interface WorkerSetup {
  readonly backend: BackendRequest;
  readonly backendId: string;
  readonly modelSpec: string;
  readonly seed: number;
  readonly gradientAccumulation: AccumulationSetting | undefined;
  readonly dataDir: string | undefined;
  readonly limits: DataLimits;
  readonly logSamples: boolean;
  readonly decoding: DecodingSettings | undefined;
  readonly evalBatchSize: EvalBatchSetting | undefined;
}

export type ToWorker = { readonly kind: 'job'; readonly job: WorkerJob } | { readonly kind: 'stop' };

export type FromWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'step'; readonly index: number; readonly progress: StepProgress }
  | { readonly kind: 'result'; readonly index: number; readonly result: RunResult }
  | { readonly kind: 'failed'; readonly index: number; readonly message: string; readonly userError: boolean };
