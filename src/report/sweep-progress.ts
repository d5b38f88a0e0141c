/**
 * What a running sweep shows: the bar (on a terminal) with the fraction of all training steps done, and one line per
 * finished run. Steps are counted per run, so runs finishing out of order on worker threads add up correctly.
 */
import type { SweepEvent, SweepPlanEntry } from '../sweep/run-sweep.js';
import { ProgressBar } from './progress.js';

export class SweepProgress {
  private readonly bar: ProgressBar;
  private readonly stepsOf: readonly number[];
  private readonly stepsDone: number[];
  private readonly totalSteps: number;

  /** `note` prints a line; `stream` is where the bar draws (null: no bar). */
  constructor(
    plan: readonly SweepPlanEntry[],
    stream: NodeJS.WriteStream | null,
    private readonly note: (line: string) => void,
  ) {
    this.bar = new ProgressBar(stream);
    this.stepsOf = plan.map((entry) => entry.epochs * Math.ceil(entry.task.data.train.length / entry.point.bs));
    this.stepsDone = plan.map(() => 0);
    this.totalSteps = this.stepsOf.reduce((a, b) => a + b, 0);
  }

  readonly onEvent = (event: SweepEvent): void => {
    if (event.kind === 'step') {
      const { progress: step, entry } = event;
      this.stepsDone[event.index] = step.step;
      this.bar.update(
        {
          label: `${entry.task.task.name}/${entry.preset.name} lr=${entry.point.lr} bs=${entry.point.bs}`,
          run: event.index + 1,
          runs: event.total,
          epoch: step.epoch + 1,
          epochs: entry.epochs,
          step: step.step,
          steps: step.totalSteps,
          loss: step.loss,
        },
        this.stepsDone.reduce((a, b) => a + b, 0) / this.totalSteps,
      );
    } else if (event.kind === 'run-end') {
      this.stepsDone[event.index] = this.stepsOf[event.index]!;
      this.bar.done();
      const r = event.result;
      this.note(
        `run ${event.index + 1}/${event.total} ${r.task}/${r.adapter} lr=${r.lr} bs=${r.batch_size}: ` +
          `accuracy ${r.accuracy.toFixed(4)}, NLL ${r.nll.toFixed(4)}${r.diverged ? ' (diverged)' : ''}, ${r.train_seconds}s`,
      );
    }
  };

  done(): void {
    this.bar.done();
  }
}
