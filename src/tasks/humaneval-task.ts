/**
 * humaneval: OpenAI's 164 problems (humaneval/HumanEval.jsonl.gz), greedy completions cut at bigcode's stop
 * sequences and run in the sandbox: pass@1. Fine-tuning data: MBPP (mbpp/mbpp.jsonl) as a local stand-in for a
 * code-instruction set — each problem's text and first test as a docstring, its code as the target.
 */
import { requireDataFile } from './data-dir.js';
import { readHumanEvalProblems } from './humaneval/problems.js';
import { readMbppJsonl } from './loaders/mbpp.js';
import { BIGCODE_STOP_SEQUENCES, codeDocs, scoreCompletions, scoreCompletionSets } from './code-execution.js';
import type { GenerationTask } from './types.js';

const files = ['humaneval/HumanEval.jsonl.gz', 'mbpp/mbpp.jsonl'];
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
    return {
      train: mbpp.map((example) => ({
        prompt: `"""\n${example.text}\n${example.tests[0] ?? ''}\n"""\n`,
        target: example.code.replace(/\r\n/g, '\n'),
      })),
      eval: codeDocs(readHumanEvalProblems(requireDataFile('humaneval', dataDir, files[0]!))),
    };
  },
  score: scoreCompletions,
  scoreSamples: scoreCompletionSets,
};
