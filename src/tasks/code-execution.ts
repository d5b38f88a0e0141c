/**
 * What the code tasks share: bigcode-evaluation-harness's stop sequences for HumanEval completions, and scoring a
 * completion per problem by running it in the sandbox (strict where the machine allows it), reported as pass@1.
 */
import { detectIsolation } from '../sandbox/isolation.js';
import { evaluateFunctionalCorrectness } from './humaneval/functional-correctness.js';
import type { HumanEvalProblem } from './humaneval/problems.js';
import type { GenerationDoc, GenerationScores } from './types.js';

/** bigcode-evaluation-harness's HumanEval stop words: a completion ends where a new top-level statement starts. */
export const BIGCODE_STOP_SEQUENCES = ['\nclass', '\ndef', '\n#', '\n@', '\nprint', '\nif', '\n```'];

export function codeDocs(problems: readonly HumanEvalProblem[]): GenerationDoc[] {
  return problems.map((problem) => ({
    id: problem.task_id,
    prompt: problem.prompt,
    reference: problem.canonical_solution,
    check: { test: problem.test, entryPoint: problem.entry_point },
  }));
}

export async function scoreCompletions(
  docs: readonly GenerationDoc[],
  completions: readonly string[],
): Promise<GenerationScores> {
  const problems: HumanEvalProblem[] = docs.map((doc) => ({
    task_id: doc.id,
    prompt: doc.prompt,
    canonical_solution: doc.reference,
    test: doc.check!.test,
    entry_point: doc.check!.entryPoint,
  }));
  const isolation = await detectIsolation();
  const evaluation = await evaluateFunctionalCorrectness(
    problems,
    docs.map((doc, i) => ({ task_id: doc.id, completion: completions[i]! })),
    { mode: isolation.strict.available ? 'strict' : 'process', isolation, ks: [1], workers: 1 },
  );
  const passAt1 = evaluation.passAtK['pass@1'] ?? 0;
  return {
    primary: passAt1,
    metrics: { 'pass@1': passAt1 },
    samples: evaluation.results.map((result) => ({ result: result.result, passed: result.passed })),
  };
}
