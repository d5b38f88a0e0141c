/**
 * HumanEval problems (openai/human-eval's HumanEval.jsonl.gz layout: task_id, prompt, canonical_solution, test,
 * entry_point) and samples (human-eval's format: task_id + completion per line), and the program that checks one
 * completion — prompt + completion + test + `check(entry_point)`, exactly as human-eval assembles it.
 */
import { UserError } from '../../errors.js';
import { readJsonLines, type JsonLine } from '../jsonl.js';

export interface HumanEvalProblem {
  readonly task_id: string;
  readonly prompt: string;
  readonly canonical_solution: string;
  readonly test: string;
  readonly entry_point: string;
}

export interface HumanEvalSample {
  readonly task_id: string;
  readonly completion: string;
}

const PROBLEM_FIELDS = ['task_id', 'prompt', 'canonical_solution', 'test', 'entry_point'] as const;

const PROBLEM_ROW = `{${PROBLEM_FIELDS.map((f) => `"${f}": string`).join(', ')}}`;

export function readHumanEvalProblems(path: string): HumanEvalProblem[] {
  return humanEvalProblems(readJsonLines(path, PROBLEM_ROW, 'Pass --problems with the path of HumanEval.jsonl(.gz).'));
}

/** Problem rows — the JSONL's, or the hub's openai/openai_humaneval export, which has the same columns. */
export function humanEvalProblems(rows: readonly JsonLine[]): HumanEvalProblem[] {
  return rows.map(({ value, where }) => {
    const missing = PROBLEM_FIELDS.filter((field) => typeof value[field] !== 'string');
    if (missing.length > 0) throw new UserError(`Malformed problem at ${where}: no string ${missing.join(', ')}.`);
    return Object.fromEntries(PROBLEM_FIELDS.map((field) => [field, value[field]])) as unknown as HumanEvalProblem;
  });
}

export function readHumanEvalSamples(path: string): HumanEvalSample[] {
  const expected = '{"task_id": string, "completion": string}';
  return readJsonLines(path, expected, 'Pass the path of a samples file.').map(({ value, where }) => {
    if (typeof value['task_id'] !== 'string' || typeof value['completion'] !== 'string') {
      throw new UserError(`Malformed sample at ${where}: expected ${expected}.`);
    }
    return { task_id: value['task_id'], completion: value['completion'] };
  });
}

/** The program human-eval runs for one completion, character for character (no newline after the check call). */
export function checkProgram(problem: HumanEvalProblem, completion: string): string {
  return `${problem.prompt}${completion}\n${problem.test}\ncheck(${problem.entry_point})`;
}
