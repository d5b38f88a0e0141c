/** MBPP JSONL (google-research): text, code, task_id, test_setup_code, test_list, challenge_test_list. */
import { UserError } from '../../errors.js';
import { readJsonLines } from '../jsonl.js';

export interface MbppExample {
  readonly taskId: number;
  readonly text: string;
  readonly code: string;
  readonly testSetupCode: string;
  readonly tests: readonly string[];
}

export function readMbppJsonl(path: string, missingHint: string): MbppExample[] {
  const expected = '{"task_id": number, "text": string, "code": string, "test_list": string[]}';
  return readJsonLines(path, expected, missingHint).map(({ value, where }) => {
    const tests = value['test_list'];
    if (
      typeof value['task_id'] !== 'number' ||
      typeof value['text'] !== 'string' ||
      typeof value['code'] !== 'string' ||
      !Array.isArray(tests) ||
      !tests.every((test) => typeof test === 'string')
    ) {
      throw new UserError(`Malformed row at ${where}: expected ${expected}.`);
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
