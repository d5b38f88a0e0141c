/**
 * What a running sweep shows: the bar (on a terminal) with the fraction of all training steps done, and one line per
 * finished run. Where stderr is no terminal (CI logs, nightly jobs), a heartbeat line with the run, step and ETA is
 * printed at most every `heartbeatSeconds` instead of the bar. Steps are counted per run, so runs finishing out of
 * order on worker threads add up correctly.
 */
import type { SweepEvent, SweepOptions, SweepPlanEntry } from '../sweep/run-sweep.js';
import type { RunResult } from './results.js';
import { ProgressBar, etaSeconds, formatBar, trainingLabel, type ProgressState } from './progress.js';
import { isAutoEvalBatch } from '../runners/eval-batch.js';

export interface HeartbeatOptions {
  /** Seconds between heartbeat lines when the bar cannot draw (default 30). */
  readonly heartbeatSeconds?: number;
  /** Milliseconds since the epoch (tests pass a fake clock). */
  readonly now?: () => number;
  /** --grad-accum and --eval-batch-size: a run line says what auto settled on, as lm-eval prints its batch size. */
  readonly settings?: Pick<SweepOptions, 'gradientAccumulation' | 'evalBatchSize'>;
}

export class SweepProgress {
  private readonly bar: ProgressBar;
  private readonly stepsOf: readonly number[];
  private readonly stepsDone: number[];
  private readonly totalSteps: number;
  private readonly heartbeatMs: number;
  private readonly now: () => number;
  private readonly started: number;
  private lastBeat: number;
  private readonly settings: HeartbeatOptions['settings'];

  /** `note` prints a line; `stream` is where the bar draws (null: quiet — no bar, no heartbeat, no per-run lines). */
  constructor(
    plan: readonly SweepPlanEntry[],
    private readonly stream: NodeJS.WriteStream | null,
    private readonly note: (line: string) => void,
    options: HeartbeatOptions = {},
  ) {
    this.bar = new ProgressBar(stream);
    this.heartbeatMs = (options.heartbeatSeconds ?? 30) * 1000;
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.lastBeat = this.started;
    this.settings = options.settings;
    this.stepsOf = plan.map((entry) => entry.epochs * Math.ceil(entry.task.data.train.length / entry.point.bs));
    this.stepsDone = plan.map(() => 0);
    this.totalSteps = this.stepsOf.reduce((a, b) => a + b, 0);
  }

  readonly onEvent = (event: SweepEvent): void => {
    if (event.kind === 'step') {
      const { progress: step, entry } = event;
      this.stepsDone[event.index] = step.step;
      const state: ProgressState = {
        label: `${entry.task.task.name}/${entry.preset.name} lr=${entry.point.lr} bs=${entry.point.bs}`,
        run: event.index + 1,
        runs: event.total,
        epoch: step.epoch + 1,
        epochs: entry.epochs,
        step: step.step,
        steps: step.totalSteps,
        loss: step.loss,
      };
      const overall = this.stepsDone.reduce((a, b) => a + b, 0) / this.totalSteps;
      if (this.bar.enabled) this.bar.update(state, overall);
      else this.heartbeat(state, overall);
    } else if (event.kind === 'run-end') {
      this.stepsDone[event.index] = this.stepsOf[event.index]!;
      this.bar.done();
      const r = event.result;
      if (this.stream === null) return;
      this.note(
        `run ${event.index + 1}/${event.total} ${r.task}/${r.adapter} lr=${r.lr} bs=${r.batch_size}: ` +
          `accuracy ${r.accuracy.toFixed(4)}, NLL ${r.nll.toFixed(4)}${r.diverged ? ' (diverged)' : ''}, ${r.train_seconds}s` +
          this.autoSettled(event.job.entry, r),
      );
    }
  };

  /** `; auto: grad-accum N, eval batch M` for the settings auto chose in this run (empty where none). */
  private autoSettled(entry: SweepPlanEntry, result: RunResult): string {
    const chosen = [];
    const accumulation = this.settings?.gradientAccumulation ?? entry.preset.training.gradientAccumulation;
    if (accumulation === 'auto') chosen.push(`grad-accum ${result.grad_accum}`);
    if (isAutoEvalBatch(this.settings?.evalBatchSize)) chosen.push(`eval batch ${result.eval_batch_size}`);
    return chosen.length === 0 ? '' : `; auto: ${chosen.join(', ')}`;
  }

  private heartbeat(state: ProgressState, overall: number): void {
    const now = this.now();
    if (this.stream === null || now - this.lastBeat < this.heartbeatMs) return;
    this.lastBeat = now;
    this.note(formatBar(trainingLabel(state), overall, etaSeconds((now - this.started) / 1000, overall)));
  }

  done(): void {
    this.bar.done();
  }
}
