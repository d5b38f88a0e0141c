/**
 * LLM-Adapters' instruction JSON (a JSON array of {instruction, input, output, answer}), the format of its
 * commonsense_170k/15k mixtures and per-task test files. `answer` is the gold in the task's answer vocabulary
 * ("answer2", "option1", "solution1", "true", a number for GSM8K).
 */
import { UserError } from '../../errors.js';
import { readJsonArray } from '../jsonl.js';

export interface InstructionExample {
  readonly instruction: string;
  readonly input: string;
  readonly output: string;
  readonly answer: string;
}

const EXPECTED = '{instruction: string, input, output: string, answer}';

export function readLlmAdaptersJson(path: string, missingHint: string): InstructionExample[] {
  return readJsonArray(path, EXPECTED, missingHint).map(({ value, where }) => {
    if (typeof value['instruction'] !== 'string' || typeof value['output'] !== 'string') {
      throw new UserError(`Malformed row at ${where}: expected ${EXPECTED}.`);
    }
    return {
      instruction: value['instruction'],
      input: typeof value['input'] === 'string' ? value['input'] : '',
      output: value['output'],
      answer: value['answer'] === undefined || value['answer'] === null ? '' : String(value['answer']),
    };
  });
}
