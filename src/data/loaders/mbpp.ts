/** MBPP JSONL (google-research): text, code, task_id, test_setup_code, test_list, challenge_test_list. */
import { UserError } from '../../errors.js';
import { readJsonLines, type JsonLine } from '../jsonl.js';

export interface MbppExample {
  readonly taskId: number;
  readonly text: string;
  readonly code: string;
  readonly testSetupCode: string;
  readonly tests: readonly string[];
}

const EXPECTED = '{"task_id": number, "text": string, "code": string, "test_list": string[]}';

export function readMbppJsonl(path: string, missingHint: string): MbppExample[] {
  return mbppExamples(readJsonLines(path, EXPECTED, missingHint));
}

/** MBPP rows — the JSONL's, or the hub's google-research-datasets/mbpp export, which has the same columns. */
export function mbppExamples(rows: readonly JsonLine[]): MbppExample[] {
  return rows.map(({ value, where }) => {
    const tests = value['test_list'];
    if (
      typeof value['task_id'] !== 'number' ||
      typeof value['text'] !== 'string' ||
      typeof value['code'] !== 'string' ||
      !Array.isArray(tests) ||
      !tests.every((test) => typeof test === 'string')
    ) {
      throw new UserError(`Malformed row at ${where}: expected ${EXPECTED}.`);
    }
    return {
      taskId: value['task_id'],
      text: value['text'],
      code: value['code'],
      testSetupCode: typeof value['test_setup_code'] === 'string' ? value['test_setup_code'] : '',
      tests: tests as string[],
    };
  });
}
