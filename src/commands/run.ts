import { BaseCommand } from '../cli/base-command.js';
import { runFlags } from '../cli/run-flags.js';
import { initEngine, type BackendRequest } from '../engine/backends.js';
import { runSweep } from '../sweep/run-sweep.js';
import { runSweepInWorkers } from '../sweep/parallel-sweep.js';
import { resolveSweepRequest, sweepJobs } from '../sweep/request.js';
import { undoneOnFailure } from '../made-folders.js';
import { prepareStoredSweep } from '../sweep/stored-sweep.js';
import { type RunResult, type SummaryRow } from '../report/results.js';
import { renderSummaryTable } from '../report/table.js';
import { SweepProgress } from '../report/sweep-progress.js';
import { storedRunResult, type ResultFiles } from '../store/store-results.js';

export interface RunCommandResult {
  readonly backend: string;
  readonly seed: number;
  readonly wallSeconds: number;
  readonly files: ResultFiles;
  readonly summary: readonly SummaryRow[];
  readonly runs: readonly RunResult[];
  /** Runs of this sweep already finished in --out, not run again. */
  readonly skipped: number;
}

export default class Run extends BaseCommand {
  static override summary =
    'Fine-tune adapters over a learning-rate × batch-size grid, evaluate each, and report robustness.';
  static override description =
    'Trains one adapter per grid point on each task, evaluates it on the dev split, prints a robustness table per ' +
    'task × adapter (best, median, worst, spread of accuracy, median NLL, extrinsic and intrinsic robustness). ' +
    'Every finished run is committed to the store in --out (its folder: config, metrics, provenance, step log, ' +
    'samples, adapter) and results.csv, summary.csv and results.json are rewritten from it: a sweep killed at any ' +
    'moment resumes where it stopped when the same command runs again.';
  static override examples = [
    '<%= config.bin %> run --task demo-sentiment --adapter lora',
    '<%= config.bin %> run --task demo-sentiment --adapter lora,none --grid lr=1e-3,3e-3 --grid bs=16 --epochs 2',
    '<%= config.bin %> run --task demo-sentiment --adapter ./my-lora.json --seed 7 --out ./runs/seed7 --json',
    '<%= config.bin %> run --task rte --adapter lora --shard 0/4 --out ./runs/shards/0',
  ];
  static override flags = runFlags;

  async run(): Promise<RunCommandResult> {
    const { flags } = await this.parse(Run);
    // Everything the user typed is checked, and the data loaded, before the engine makes its first tensor.
    const request = await resolveSweepRequest(flags);
    const choice = await undoneOnFailure(request.madeFolders, () => initEngine(request.backend));
    const options = { ...request.sweep, backend: choice.id };
    const threads = sweepJobs(request.jobs, choice, Number.POSITIVE_INFINITY);
    const sweep = await prepareStoredSweep(options, {
      ...request.store,
      out: request.out,
      threads,
      command: ['mceval', 'run', ...this.argv].join(' '),
    });
    const jobs = sweep.jobs;
    const workers = Math.max(1, Math.min(threads, jobs.length));
    // With --json nothing but the JSON result is printed; --quiet keeps the table but drops the progress.
    const quiet = this.jsonEnabled() || flags.quiet;
    const progress = new SweepProgress(
      jobs.map((job) => job.entry),
      quiet ? null : process.stderr,
      (line) => this.logToStderr(line),
      { settings: options },
    );
    const started = performance.now();
    if (!quiet) {
      const skipped = sweep.skipped > 0 ? `, ${sweep.skipped} already finished in ${request.out}` : '';
      this.logToStderr(
        `Backend ${choice.id}; ${count(jobs.length, 'run')} to train of ${sweep.size}${skipped} ` +
          `(${count(options.tasks.length, 'task')} × ${count(options.presets.length, 'adapter')} × grid) ` +
          `on ${count(workers, 'thread')}; seed ${flags.seed}`,
      );
    }
    const outcome = await sweep.run(
      (list, onEvent) =>
        workers > 1
          ? runSweepInWorkers(options, choice.tfName as BackendRequest, workers, onEvent, list)
          : runSweep(options, onEvent, list),
      progress.onEvent,
    );
    progress.done();

    const wallSeconds = Math.round((performance.now() - started) / 10) / 100;
    this.log(renderSummaryTable(outcome.summary));
    this.log(`Wrote ${outcome.files.results}, ${outcome.files.summary} and ${outcome.files.json} (${wallSeconds}s).`);
    return {
      backend: choice.id,
      seed: flags.seed,
      wallSeconds,
      files: outcome.files,
      summary: outcome.summary,
      runs: outcome.runs.map(storedRunResult),
      skipped: sweep.skipped,
    };
  }
}

/** "1 run", "6 runs". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
