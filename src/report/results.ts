import type { StepLogEntry } from '../train/fine-tune.js';
/** The rows mceval writes: one per trained run (results.csv) and one per task × adapter (summary.csv). */
import { robustness } from './robustness.js';

export interface RunResult {
  readonly task: string;
  readonly adapter: string;
  readonly method: string;
  readonly model: string;
  readonly backend: string;
  readonly seed: number;
  readonly lr: number;
  readonly batch_size: number;
  readonly epochs: number;
  readonly max_length: number;
  readonly optimizer: string;
  readonly lr_scheduler: string;
  readonly weight_decay: number;
  readonly warmup_ratio: number;
  readonly max_grad_norm: number;
  /** Micro-batches per optimiser step (--grad-accum). */
  readonly grad_accum: number;
  /** The preset's padToMultipleOf, where it sets one (a batch's padded length, rounded up to a multiple). */
  readonly pad_to_multiple_of?: number;
  /** The preset's groupByLength, where set: batches of rows of about one length. */
  readonly group_by_length?: boolean;
  /** Sequences evaluated together: --eval-batch-size, the size auto found, or the task kind's default. */
  readonly eval_batch_size?: number;
  /** The method's own hyperparameters (lora_r, lora_alpha, …). */
  readonly hyperparameters: Readonly<Record<string, string | number | boolean>>;
  readonly trainable_params: number;
  readonly steps: number;
  /** Examples trained on per epoch and evaluated, after --train-limit / --limit. */
  readonly train_examples: number;
  readonly eval_examples: number;
  readonly final_train_loss: number;
  readonly diverged: boolean;
  /** The step at which a diverged run was stopped (empty in the CSV otherwise). */
  readonly diverged_step?: number;
  readonly accuracy: number;
  readonly nll: number;
  /** Binary F1 of the positive class, for tasks that report it (MRPC, QQP). */
  readonly f1?: number;
  /** Matthews correlation, for tasks that report it (CoLA). */
  readonly mcc?: number;
  /** A generation task's metrics by name (both GSM8K filters, pass@k), one CSV column each. */
  readonly metrics?: Readonly<Record<string, number>>;
  readonly train_seconds: number;
  /** The most bytes the backend held in tensors during training. */
  readonly peak_tensor_bytes?: number;
  /** On webgpu, the most GPU memory tfjs's buffer pool held during training: the tensors and the freed buffers kept. */
  readonly peak_gpu_bytes?: number;
  /** With MCEVAL_WEBGPU_REPLAY=on, the training steps replayed rather than recorded (fine-tune.ts). */
  readonly replayed_steps?: number;
  /** The per-step training log (written to logs/*.jsonl, not to results.csv). */
  readonly log: readonly StepLogEntry[];
  /** With --log-samples: one record per evaluated example (written to samples/*.jsonl). */
  readonly samples?: readonly Readonly<Record<string, unknown>>[];
}

export interface SummaryRow {
  readonly task: string;
  readonly adapter: string;
  readonly runs: number;
  readonly diverged_runs: number;
  readonly best_accuracy: number;
  readonly median_accuracy: number;
  readonly worst_accuracy: number;
  readonly spread_accuracy: number;
  readonly median_nll: number;
  readonly extrinsic_robustness: number;
  readonly intrinsic_robustness: number;
}

export function summarize(results: readonly RunResult[]): SummaryRow[] {
  const groups = new Map<string, RunResult[]>();
  for (const result of results) {
    const key = `${result.task}\u0000${result.adapter}`;
    groups.set(key, [...(groups.get(key) ?? []), result]);
  }
  return [...groups.values()].map((runs) => {
    const stats = robustness(
      runs.map((run) => run.accuracy),
      runs.map((run) => run.nll),
    );
    return {
      task: runs[0]!.task,
      adapter: runs[0]!.adapter,
      runs: stats.runs,
      diverged_runs: runs.filter((run) => run.diverged).length,
      best_accuracy: stats.best,
      median_accuracy: stats.median,
      worst_accuracy: stats.worst,
      spread_accuracy: stats.spread,
      median_nll: stats.medianNll,
      extrinsic_robustness: stats.extrinsic,
      intrinsic_robustness: stats.intrinsic,
    };
  });
}

/** A run as one flat CSV record: fixed columns first, then the method's hyperparameters. */
export function flattenRunResult(result: RunResult): Record<string, string | number | boolean> {
  const { hyperparameters, log: _log, samples: _samples, metrics, ...fixed } = result;
  return { ...fixed, ...(metrics ?? {}), ...hyperparameters };
}
