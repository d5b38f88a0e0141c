import { BaseCommand } from '../cli/base-command.js';
import { runFlags } from '../cli/run-flags.js';
import { initEngine, type BackendRequest } from '../engine/backends.js';
import { planSweep, runSweep } from '../sweep/run-sweep.js';
import { runSweepInWorkers } from '../sweep/parallel-sweep.js';
import { resolveSweepRequest, sweepJobs } from '../sweep/request.js';
import { summarize, type RunResult, type SummaryRow } from '../report/results.js';
import { renderSummaryTable } from '../report/table.js';
import { SweepProgress } from '../report/sweep-progress.js';
import { writeSweepResults, type ResultFiles } from '../report/write-results.js';

export interface RunCommandResult {
  readonly backend: string;
  readonly seed: number;
  readonly wallSeconds: number;
  readonly files: ResultFiles;
  readonly summary: readonly SummaryRow[];
  readonly runs: readonly RunResult[];
}

export default class Run extends BaseCommand {
  static override summary =
    'Fine-tune adapters over a learning-rate × batch-size grid, evaluate each, and report robustness.';
  static override description =
    'Trains one adapter per grid point on each task, evaluates it on the dev split, prints a robustness table per ' +
    'task × adapter (best, median, worst, spread of accuracy, median NLL, extrinsic and intrinsic robustness) and ' +
    'writes results.csv (one row per run) and summary.csv (one row per task × adapter) under --out.';
  static override examples = [
    '<%= config.bin %> run --task demo-sentiment --adapter lora',
    '<%= config.bin %> run --task demo-sentiment --adapter lora --grid lr=1e-3,3e-3 --grid bs=16 --epochs 2',
    '<%= config.bin %> run --task demo-sentiment --adapter ./my-lora.json --seed 7 --out ./runs/seed7 --json',
  ];
  static override flags = runFlags;

  async run(): Promise<RunCommandResult> {
    const { flags } = await this.parse(Run);
    // Everything the user typed is checked, and the data loaded, before the engine makes its first tensor.
    const request = await resolveSweepRequest(flags);
    const choice = await initEngine(request.backend);
    const options = { ...request.sweep, backend: choice.id };
    const plan = planSweep(options);
    const jobs = sweepJobs(request.jobs, choice, plan.length);
    // With --json nothing but the JSON result is printed; --quiet keeps the table but drops the progress.
    const quiet = this.jsonEnabled() || flags.quiet;
    const progress = new SweepProgress(plan, quiet ? null : process.stderr, (line) => this.logToStderr(line));
    const started = performance.now();
    if (!quiet) {
      this.logToStderr(
        `Backend ${choice.id}; ${count(plan.length, 'run')} (${count(options.tasks.length, 'task')} × ` +
          `${count(options.presets.length, 'adapter')} × grid) ` +
          `on ${count(jobs, 'thread')}; seed ${flags.seed}`,
      );
    }
    const runs =
      jobs > 1
        ? await runSweepInWorkers(options, choice.tfName as BackendRequest, jobs, progress.onEvent)
        : await runSweep(options, progress.onEvent);
    progress.done();

    const summary = summarize(runs);
    const files = writeSweepResults(request.out, runs, summary, flags['log-samples']);
    const wallSeconds = Math.round((performance.now() - started) / 10) / 100;
    this.log(renderSummaryTable(summary));
    this.log(`Wrote ${files.results} and ${files.summary} (${wallSeconds}s).`);
    return { backend: choice.id, seed: flags.seed, wallSeconds, files, summary, runs };
  }
}

/** "1 run", "6 runs". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
