/**
 * humaneval: OpenAI's 164 problems (humaneval/HumanEval.jsonl.gz), greedy completions cut at bigcode's stop
 * sequences and run in the sandbox: pass@1. Fine-tuning data: MBPP (mbpp/mbpp.jsonl) as a local stand-in for a
 * code-instruction set — each problem's text and first test as a docstring, its code as the target. Both may come
 * from the hub instead (openai/openai_humaneval; google-research-datasets/mbpp, config full).
 */
import { requireDataFile } from '../../data/data-dir.js';
import { lazySplits } from '../../data/lazy-splits.js';
import { humanEvalProblems, readHumanEvalProblems } from '../../data/loaders/humaneval.js';
import { mbppExamples, readMbppJsonl, type MbppExample } from '../../data/loaders/mbpp.js';
import {
  BIGCODE_STOP_SEQUENCES,
  codeDocs,
  scoreCompletions,
  scoreCompletionSets,
} from '../../evaluation/code-execution.js';
import type { PromptTarget } from '../../data/examples.js';
import type { GenerationTask } from '../types.js';

const files = ['humaneval/HumanEval.jsonl.gz', 'mbpp/mbpp.jsonl'];
const MBPP_HUB = { repo: 'google-research-datasets/mbpp', config: 'full' };
/** The hub splits MBPP's 974 problems by task id — 1–10, 11–510, 511–600, 601–974: in this order they are mbpp.jsonl. */
const MBPP_SPLITS = ['prompt', 'test', 'validation', 'train'];

/** MBPP as fine-tuning pairs: the problem's text and first test as a docstring, its code as the target. */
function mbppTraining(mbpp: readonly MbppExample[]): PromptTarget[] {
  return mbpp.map((example) => ({
    prompt: `"""\n${example.text}\n${example.tests[0] ?? ''}\n"""\n`,
    target: example.code.replace(/\r\n/g, '\n'),
  }));
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
    const path = (file: string) => requireDataFile('humaneval', dataDir, file);
    return lazySplits({
      train: () => mbppTraining(readMbppJsonl(path(files[1]!), '')),
      eval: () => codeDocs(readHumanEvalProblems(path(files[0]!))),
    });
  },
  hub: {
    splits: {
      problems: { repo: 'openai/openai_humaneval', config: 'openai_humaneval', split: 'test' },
      ...Object.fromEntries(MBPP_SPLITS.map((split) => [`mbpp-${split}`, { ...MBPP_HUB, split }])),
    },
    load: (rows) => ({
      train: mbppTraining(MBPP_SPLITS.flatMap((split) => mbppExamples(rows[`mbpp-${split}`]!))),
      eval: codeDocs(humanEvalProblems(rows['problems']!)),
    }),
  },
  score: scoreCompletions,
  scoreSamples: scoreCompletionSets,
};
