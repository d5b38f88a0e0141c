/** GSM8K JSONL as openai/grade-school-math ships it: {"question", "answer"}, the answer ending in "#### N". */
import { UserError } from '../../errors.js';
import { readJsonLines, type JsonLine } from '../jsonl.js';

export interface Gsm8kExample {
  readonly question: string;
  /** The reference solution, ending with "#### <number>". */
  readonly answer: string;
}

const EXPECTED = '{"question": string, "answer": string}';

export function readGsm8kJsonl(path: string, missingHint: string): Gsm8kExample[] {
  return gsm8kExamples(readJsonLines(path, EXPECTED, missingHint));
}

/** GSM8K rows — the JSONL's, or the hub's openai/gsm8k export, which has the same columns. */
export function gsm8kExamples(rows: readonly JsonLine[]): Gsm8kExample[] {
  return rows.map(({ value, where }) => {
    if (typeof value['question'] !== 'string' || typeof value['answer'] !== 'string') {
      throw new UserError(`Malformed row at ${where}: expected ${EXPECTED}.`);
    }
    return { question: value['question'], answer: value['answer'] };
  });
}
