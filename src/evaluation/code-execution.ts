/**
 * What the code tasks share: bigcode-evaluation-harness's stop sequences for HumanEval completions, and scoring a
 * completion per problem by running it in the sandbox (strict where the machine allows it), reported as pass@1.
 */
import { detectIsolation } from '../sandbox/isolation.js';
import { evaluateFunctionalCorrectness } from './functional-correctness.js';
import type { HumanEvalProblem } from '../data/loaders/humaneval.js';
import type { GenerationDoc, GenerationScores } from '../tasks/types.js';

/** bigcode-evaluation-harness's HumanEval stop words: a completion ends where a new top-level statement starts. */
export const BIGCODE_STOP_SEQUENCES = ['\nclass', '\ndef', '\n#', '\n@', '\nprint', '\nif', '\n```'];

/** A code doc back in HumanEval's problem layout, for the sandboxed checks. */
export function problemOf(doc: GenerationDoc): HumanEvalProblem {
  return {
    task_id: doc.id,
    prompt: doc.prompt,
    canonical_solution: doc.reference,
    test: doc.check!.test,
    entry_point: doc.check!.entryPoint,
  };
}

export function codeDocs(problems: readonly HumanEvalProblem[]): GenerationDoc[] {
  return problems.map((problem) => ({
    id: problem.task_id,
    prompt: problem.prompt,
    reference: problem.canonical_solution,
    check: { test: problem.test, entryPoint: problem.entry_point },
  }));
}

/** The k reported for n samples per problem: every k ≤ n up to 10, then the usual 20, 50, 100 and n itself. */
export function reportedKs(n: number): number[] {
  const ks = [...Array.from({ length: Math.min(n, 10) }, (_, i) => i + 1), 20, 50, 100, n].filter((k) => k <= n);
  return [...new Set(ks)].sort((a, b) => a - b);
}

export function scoreCompletions(
  docs: readonly GenerationDoc[],
  completions: readonly string[],
): Promise<GenerationScores> {
  return scoreCompletionSets(
    docs,
    completions.map((completion) => [completion]),
  );
}

/** Every completion runs in the sandbox; pass@k (unbiased) for each reported k; pass@1 is the primary metric. */
export async function scoreCompletionSets(
  docs: readonly GenerationDoc[],
  completionSets: readonly (readonly string[])[],
): Promise<GenerationScores> {
  const problems = docs.map(problemOf);
  const isolation = await detectIsolation();
  const n = Math.min(...completionSets.map((set) => set.length));
  const evaluation = await evaluateFunctionalCorrectness(
    problems,
    docs.flatMap((doc, i) => completionSets[i]!.map((completion) => ({ task_id: doc.id, completion }))),
    { mode: isolation.strict.available ? 'strict' : 'process', isolation, ks: reportedKs(n), workers: 1 },
  );
  // One record per doc: each of its completions' verdicts.
  let offset = 0;
  const samples = completionSets.map((set) => {
    const results = evaluation.results.slice(offset, offset + set.length);
    offset += set.length;
    return set.length === 1
      ? { result: results[0]!.result, passed: results[0]!.passed }
      : { results: results.map((result) => result.result), passed: results.filter((result) => result.passed).length };
  });
  return { primary: evaluation.passAtK['pass@1'] ?? 0, metrics: evaluation.passAtK, samples };
}
