import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { UserError } from '../errors.js';
import { BaseCommand } from '../cli/base-command.js';
import { backendFlag, numberFlag } from '../cli/flags.js';
import { initEngine, resolveBackendRequest, type BackendRequest } from '../engine/backends.js';
import { resolveModelSpec, validateModelSpec } from '../models/load.js';
import { loadPreset } from '../peft/preset.js';
import { resolveTasks } from '../tasks/registry.js';
import { resolveDataDir } from '../tasks/data-dir.js';
import { limitData } from '../tasks/limit.js';
import { loadTaskData } from '../tasks/task-data.js';
import type { GenerationSplits, MultipleChoiceSplits, TaskData } from '../tasks/types.js';
import { trainingMixture, writeTrainingMixture } from '../tasks/train-mixture.js';
import { parseGridFlags } from '../sweep/grid.js';
import { availableParallelism } from 'node:os';
import { planSweep, runSweep, type SweepEvent, type SweepOptions } from '../sweep/run-sweep.js';
import { runSweepInWorkers } from '../sweep/parallel-sweep.js';
import { flattenRunResult, summarize, type RunResult, type SummaryRow } from '../report/results.js';
import { toCsv } from '../report/csv.js';
import { writeFileAtomic } from '../atomic-write.js';
import { renderSummaryTable } from '../report/table.js';
import { ensureWritableDirectory } from '../report/output-dir.js';
import { ProgressBar } from '../report/progress.js';

export interface RunCommandResult {
  readonly backend: string;
  readonly seed: number;
  readonly wallSeconds: number;
  readonly files: { readonly results: string; readonly summary: string };
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
  static override flags = {
    task: Flags.string({
      description: 'Task to run (repeatable); see "mceval tasks".',
      required: true,
      multiple: true,
    }),
    adapter: Flags.string({
      description:
        'Adapter preset names or paths to preset .json files (repeatable or comma-separated); see "mceval adapters".',
      required: true,
      multiple: true,
    }),
    model: Flags.string({
      description: 'Model: builtin:NAME, a Hugging Face Llama folder, or a hub id (owner/name[@revision]).',
      default: 'builtin:tiny',
    }),
    grid: Flags.string({
      description: "Grid values, NAME=V1,V2,... with NAME lr or bs (repeatable). Default: the preset's grid.",
      multiple: true,
    }),
    data: Flags.string({
      description: 'Directory with the task data files (see "mceval tasks" for each layout). Default: $MCEVAL_DATA.',
    }),
    limit: Flags.integer({ description: 'Evaluate on the first N examples of each task (quick runs).', min: 1 }),
    'train-file': Flags.string({
      description:
        'Generation tasks: fine-tune on this JSONL instead ({prompt, completion}, {instruction, input, output} or {problem, solution} per line).',
    }),
    'train-limit': Flags.integer({ description: 'Train on the first N examples of each task (quick runs).', min: 1 }),
    'train-mixture': Flags.integer({
      description:
        "Fine-tune every task on one seeded sample of N pairs pooled from all the tasks' training files (LLM-Adapters' commonsense_15k is such a sample); written to --out as train-mixture.jsonl.",
      min: 1,
      exclusive: ['train-file'],
    }),
    samples: Flags.integer({
      description: 'Generation tasks: completions per problem (code tasks report pass@k for every k the count allows).',
      default: 1,
      min: 1,
    }),
    temperature: numberFlag(
      '--temperature',
      0,
      100,
    )({
      description: 'Generation tasks: sampling temperature (0 = greedy, the default).',
      default: 0,
    }),
    'top-p': numberFlag(
      '--top-p',
      0,
      1,
    )({
      description: 'Generation tasks: nucleus sampling mass (1 = off).',
      default: 1,
    }),
    'log-samples': Flags.boolean({
      description:
        'Write one JSON line per evaluated example (input, target, raw and filtered prediction, correctness, log-probs) under --out/samples/.',
      default: false,
    }),
    seed: Flags.integer({ description: 'Seed of every random draw in training.', default: 42 }),
    epochs: Flags.integer({ description: "Training epochs per run. Default: the preset's.", min: 1 }),
    out: Flags.string({ description: 'Folder for results.csv and summary.csv.', default: './mceval-runs' }),
    backend: backendFlag,
    jobs: Flags.integer({
      description:
        'Grid points trained at once, each on its own thread. Default: one per CPU core (1 with tfjs-node, which is multi-threaded itself).',
      min: 1,
    }),
  };

  async run(): Promise<RunCommandResult> {
    const { flags } = await this.parse(Run);
    // Everything the user typed is checked before the first tensor is made.
    const tasks = resolveTasks(flags.task);
    // --adapter lora,monteclora and repeated --adapter both name several presets.
    const presets = flags.adapter.flatMap((value) => value.split(',')).map((name) => loadPreset(name.trim()));
    const gridFlags = flags.grid ?? [];
    presets.forEach((preset) => parseGridFlags(gridFlags, preset.grid));
    const out = resolve(flags.out);
    ensureWritableDirectory(out);
    // A hub id downloads only after everything cheap to check has passed.
    const modelSpec = await resolveModelSpec(flags.model);
    validateModelSpec(modelSpec);
    const choice = await initEngine(resolveBackendRequest(flags.backend));

    const dataDir = resolveDataDir(flags.data);
    if (flags.samples > 1 && flags.temperature === 0) {
      throw new UserError(
        `--samples ${flags.samples} with greedy decoding would draw the same completion ${flags.samples} times: add --temperature (e.g. 0.8).`,
      );
    }
    const classification = tasks.find((task) => task.kind === 'classification');
    const replacing =
      flags['train-file'] !== undefined
        ? '--train-file'
        : flags['train-mixture'] !== undefined
          ? '--train-mixture'
          : undefined;
    if (replacing !== undefined && classification !== undefined) {
      throw new UserError(
        `${replacing} replaces the fine-tuning pairs of generation and multiple-choice tasks; ${classification.name} is a classification task.`,
      );
    }
    const loaded = new Map<string, TaskData>();
    for (const task of tasks) loaded.set(task.name, await loadTaskData(task, dataDir));
    let trainFile = flags['train-file'];
    if (flags['train-mixture'] !== undefined) {
      const sets = [...loaded.values()].map((data) => (data as GenerationSplits | MultipleChoiceSplits).train);
      trainFile = writeTrainingMixture(out, trainingMixture(sets, flags['train-mixture'], flags.seed));
    }
    const limits = { evalLimit: flags.limit, trainLimit: flags['train-limit'], trainFile };
    const splits = new Map([...loaded].map(([name, data]) => [name, limitData(data, limits)]));
    const options: SweepOptions = {
      tasks,
      splits,
      presets,
      modelSpec,
      grid: (preset) => parseGridFlags(gridFlags, preset.grid),
      epochs: flags.epochs,
      seed: flags.seed,
      backend: choice.id,
      dataDir,
      limits,
      logSamples: flags['log-samples'],
      decoding: { samples: flags.samples, temperature: flags.temperature, topP: flags['top-p'], seed: flags.seed },
    };
    const plan = planSweep(options);
    const stepsOf = plan.map(
      (entry) => entry.epochs * Math.ceil(splits.get(entry.task.name)!.train.length / entry.point.bs),
    );
    const totalSteps = stepsOf.reduce((a, b) => a + b, 0);
    const stepsDone = plan.map(() => 0);
    const jobs = flags.jobs ?? (choice.tfName === 'tensorflow' ? 1 : Math.min(availableParallelism(), plan.length));
    // With --json nothing but the JSON result is printed: no progress bar, no per-run lines.
    const quiet = this.jsonEnabled();
    const progress = new ProgressBar(quiet ? null : process.stderr);
    const note = (line: string): void => {
      if (!quiet) this.logToStderr(line);
    };
    const started = performance.now();
    note(
      `Backend ${choice.id}; ${plan.length} runs (${tasks.length} task × ${presets.length} adapter × grid) on ${jobs} ` +
        `thread${jobs === 1 ? '' : 's'}; seed ${flags.seed}`,
    );
    const onEvent = (event: SweepEvent): void => {
      if (event.kind === 'step') {
        const { progress: step, entry } = event;
        stepsDone[event.index] = step.step;
        progress.update(
          {
            label: `${entry.task.name}/${entry.preset.name} lr=${entry.point.lr} bs=${entry.point.bs}`,
            run: event.index + 1,
            runs: event.total,
            epoch: step.epoch + 1,
            epochs: entry.epochs,
            step: step.step,
            steps: step.totalSteps,
            loss: step.loss,
          },
          stepsDone.reduce((a, b) => a + b, 0) / totalSteps,
        );
      } else if (event.kind === 'run-end') {
        stepsDone[event.index] = stepsOf[event.index]!;
        progress.done();
        const r = event.result;
        note(
          `run ${event.index + 1}/${event.total} ${r.task}/${r.adapter} lr=${r.lr} bs=${r.batch_size}: ` +
            `accuracy ${r.accuracy.toFixed(4)}, NLL ${r.nll.toFixed(4)}${r.diverged ? ' (diverged)' : ''}, ${r.train_seconds}s`,
        );
      }
    };
    const runs =
      jobs > 1
        ? await runSweepInWorkers(options, choice.tfName as BackendRequest, jobs, onEvent)
        : await runSweep(options, onEvent);
    progress.done();

    const summary = summarize(runs);
    const files = { results: resolve(out, 'results.csv'), summary: resolve(out, 'summary.csv') };
    writeFileAtomic(files.results, toCsv(runs.map(flattenRunResult)));
    writeFileAtomic(files.summary, toCsv(summary.map((row) => ({ ...row }))));
    writeTrainingLogs(resolve(out, 'logs'), runs);
    if (flags['log-samples']) writeSampleLogs(resolve(out, 'samples'), runs);
    const wallSeconds = Math.round((performance.now() - started) / 10) / 100;
    this.log(renderSummaryTable(summary));
    this.log(`Wrote ${files.results} and ${files.summary} (${wallSeconds}s).`);
    return { backend: choice.id, seed: flags.seed, wallSeconds, files, summary, runs };
  }
}

/** The file name of a run's logs: NNN-<task>-<adapter>-lr<lr>-bs<bs>.jsonl. */
function runFileName(run: RunResult, index: number): string {
  return `${String(index + 1).padStart(3, '0')}-${run.task}-${run.adapter}-lr${run.lr}-bs${run.batch_size}.jsonl`;
}

/** One JSON Lines file per run under logs/: a line per training step (lr, loss, gradient norm, adapter diagnostics). */
function writeTrainingLogs(dir: string, runs: readonly RunResult[]): void {
  mkdirSync(dir, { recursive: true });
  runs.forEach((run, index) => {
    writeFileAtomic(
      join(dir, runFileName(run, index)),
      run.log.map((entry) => JSON.stringify(entry)).join('\n') + '\n',
    );
  });
}

/** --log-samples: one JSON Lines file per run under samples/, a line per evaluated example. */
function writeSampleLogs(dir: string, runs: readonly RunResult[]): void {
  mkdirSync(dir, { recursive: true });
  runs.forEach((run, index) => {
    const lines = (run.samples ?? []).map((sample) => `${JSON.stringify(sample)}\n`).join('');
    writeFileAtomic(join(dir, runFileName(run, index)), lines);
  });
}
