/** GSM8K JSONL as openai/grade-school-math ships it: {"question", "answer"}, the answer ending in "#### N". */
import { UserError } from '../../errors.js';
import { readJsonLines } from '../jsonl.js';

export interface Gsm8kExample {
  readonly question: string;
  /** The reference solution, ending with "#### <number>". */
  readonly answer: string;
}

export function readGsm8kJsonl(path: string, missingHint: string): Gsm8kExample[] {
  const expected = '{"question": string, "answer": string}';
  return readJsonLines(path, expected, missingHint).map(({ value, where }) => {
    if (typeof value['question'] !== 'string' || typeof value['answer'] !== 'string') {
      throw new UserError(`Malformed row at ${where}: expected ${expected}.`);
    }
    return { question: value['question'], answer: value['answer'] };
  });
}
