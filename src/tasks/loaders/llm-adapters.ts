/**
 * LLM-Adapters' instruction JSON (a JSON array of {instruction, input, output, answer}), the format of its
 * commonsense_170k/15k mixtures and per-task test files. `answer` is the gold in the task's answer vocabulary
 * ("answer2", "option1", "solution1", "true", a number for GSM8K).
 */
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../../errors.js';

export interface InstructionExample {
  readonly instruction: string;
  readonly input: string;
  readonly output: string;
  readonly answer: string;
}

export function readLlmAdaptersJson(path: string, missingHint: string): InstructionExample[] {
  if (!existsSync(path)) throw new UserError(`Data file not found: ${path}. ${missingHint}`);
  let rows: unknown;
  try {
    rows = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UserError(`${path} is not valid JSON (${(error as Error).message}).`);
  }
  if (!Array.isArray(rows))
    throw new UserError(`${path}: expected a JSON array of {instruction, input, output, answer}.`);
  return rows.map((row: Record<string, unknown>, i) => {
    if (typeof row?.['instruction'] !== 'string' || typeof row['output'] !== 'string') {
      throw new UserError(
        `Malformed record ${i} of ${path}: expected {instruction: string, input, output: string, answer}.`,
      );
    }
    return {
      instruction: row['instruction'],
      input: typeof row['input'] === 'string' ? row['input'] : '',
      output: row['output'],
      answer: row['answer'] === undefined || row['answer'] === null ? '' : String(row['answer']),
    };
  });
}
