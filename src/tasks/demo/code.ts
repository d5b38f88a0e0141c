/**
 * demo-code: 12 HumanEval-format problems the project wrote (fixtures/demo-code/problems.jsonl, each with tests),
 * fine-tuned on 16 other small functions (fixtures/demo-code/train.jsonl), scored by running the completions in the
 * sandbox: pass@1.
 */
import { packagePath } from '../../paths.js';
import { UserError } from '../../errors.js';
import { readJsonLines } from '../../data/jsonl.js';
import { readHumanEvalProblems } from '../../data/loaders/humaneval.js';
import {
  BIGCODE_STOP_SEQUENCES,
  codeDocs,
  scoreCompletions,
  scoreCompletionSets,
} from '../../evaluation/code-execution.js';
import type { GenerationTask, PromptTarget } from '../types.js';

/** Code-instruction pairs: {"prompt", "completion"} per line. */
export function readCodePairs(path: string): PromptTarget[] {
  const expected = '{"prompt": string, "completion": string}';
  return readJsonLines(path, expected, 'Pass an existing file.').map(({ value, where }) => {
    if (typeof value['prompt'] !== 'string' || typeof value['completion'] !== 'string') {
      throw new UserError(`Malformed row at ${where}: expected ${expected}.`);
    }
    return { prompt: value['prompt'], target: value['completion'] };
  });
}

export const demoCode: GenerationTask = {
  name: 'demo-code',
  description: '12 HumanEval-format problems with tests (shipped), completions run in the sandbox; pass@1',
  kind: 'generation',
  maxLength: 160,
  maxNewTokens: 64,
  stopSequences: BIGCODE_STOP_SEQUENCES,
  load() {
    const problems = readHumanEvalProblems(packagePath('fixtures', 'demo-code', 'problems.jsonl'));
    return { train: readCodePairs(packagePath('fixtures', 'demo-code', 'train.jsonl')), eval: codeDocs(problems) };
  },
  score: scoreCompletions,
  scoreSamples: scoreCompletionSets,
};
