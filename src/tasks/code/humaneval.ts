/**
 * humaneval: OpenAI's 164 problems (humaneval/HumanEval.jsonl.gz), greedy completions cut at bigcode's stop
 * sequences and run in the sandbox: pass@1. Fine-tuning data: MBPP (mbpp/mbpp.jsonl) as a local stand-in for a
 * code-instruction set — each problem's text and first test as a docstring, its code as the target. Both may come
 * from the hub instead (openai/openai_humaneval; google-research-datasets/mbpp, config full).
 */
import { requireDataFile } from '../../data/data-dir.js';
import { humanEvalProblems, readHumanEvalProblems, type HumanEvalProblem } from '../../data/loaders/humaneval.js';
import { mbppExamples, readMbppJsonl, type MbppExample } from '../../data/loaders/mbpp.js';
import {
  BIGCODE_STOP_SEQUENCES,
  codeDocs,
  scoreCompletions,
  scoreCompletionSets,
} from '../../evaluation/code-execution.js';
import type { GenerationSplits, GenerationTask } from '../types.js';

const files = ['humaneval/HumanEval.jsonl.gz', 'mbpp/mbpp.jsonl'];
const MBPP_HUB = { repo: 'google-research-datasets/mbpp', config: 'full' };
/** The hub splits MBPP's 974 problems by task id — 1–10, 11–510, 511–600, 601–974: in this order they are mbpp.jsonl. */
const MBPP_SPLITS = ['prompt', 'test', 'validation', 'train'];

function humanevalSplits(mbpp: readonly MbppExample[], problems: readonly HumanEvalProblem[]): GenerationSplits {
  return {
    train: mbpp.map((example) => ({
      prompt: `"""\n${example.text}\n${example.tests[0] ?? ''}\n"""\n`,
      target: example.code.replace(/\r\n/g, '\n'),
    })),
    eval: codeDocs(problems),
  };
}

export const humaneval: GenerationTask = {
  name: 'humaneval',
  description: 'HumanEval (164 problems), completions run in the sandbox; pass@1; fine-tuned on MBPP (974)',
  kind: 'generation',
  maxLength: 512,
  maxNewTokens: 384,
  stopSequences: BIGCODE_STOP_SEQUENCES,
  dataFiles: files,
  load(dataDir) {
    const mbpp = readMbppJsonl(requireDataFile('humaneval', dataDir, files[1]!), '');
    return humanevalSplits(mbpp, readHumanEvalProblems(requireDataFile('humaneval', dataDir, files[0]!)));
  },
  hub: {
    splits: {
      problems: { repo: 'openai/openai_humaneval', config: 'openai_humaneval', split: 'test' },
      ...Object.fromEntries(MBPP_SPLITS.map((split) => [`mbpp-${split}`, { ...MBPP_HUB, split }])),
    },
    load: (rows) =>
      humanevalSplits(
        MBPP_SPLITS.flatMap((split) => mbppExamples(rows[`mbpp-${split}`]!)),
        humanEvalProblems(rows['problems']!),
      ),
  },
  score: scoreCompletions,
  scoreSamples: scoreCompletionSets,
};
