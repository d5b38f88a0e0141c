/**
 * The commonsense tasks in LLM-Adapters' generation mode: PIQA, SIQA, WinoGrande, ARC-Easy, ARC-Challenge,
 * OpenBookQA, BoolQ and HellaSwag, each fine-tuned on its LLM-Adapters train file (e.g. piqa/llm-adapters/train.json; a
 * commonsense mixture such as commonsense_15k.json can be put in its place) and evaluated on the test.json beside it
 * by generating a response
 * and extracting the first answer word the task allows. One definition per task, differing only in names, paths
 * and answer vocabulary.
 */
import { requireDataFile } from '../../data/data-dir.js';
import { lazySplits } from '../../data/lazy-splits.js';
import { readLlmAdaptersJson } from '../../data/loaders/llm-adapters.js';
import { instructionDocs, instructionPairs } from '../../data/llm-adapters-prompt.js';
import { scoreInstructionAnswers } from './answer-extraction.js';
import type { GenerationTask } from '../types.js';

/** `folder` holds the task's LLM-Adapters train.json and test.json under --data. */
function commonsenseTask(name: string, folder: string, answerPattern: RegExp, description: string): GenerationTask {
  const files = [`${folder}/train.json`, `${folder}/test.json`];
  return {
    name,
    description,
    kind: 'generation',
    maxLength: 384,
    maxNewTokens: 32,
    stopSequences: ['\n\n', '###'],
    dataFiles: files,
    load(dataDir) {
      const read = (file: string) => readLlmAdaptersJson(requireDataFile(name, dataDir, file), '');
      return lazySplits({
        train: () => instructionPairs(read(files[0]!)),
        eval: () => instructionDocs(read(files[1]!)),
      });
    },
    score: async (docs, responses) => scoreInstructionAnswers(docs, responses, answerPattern),
  };
}

const ANSWERS = /answer1|answer2|answer3|answer4|answer5/;

export const piqa = commonsenseTask(
  'piqa',
  'piqa/llm-adapters',
  /solution1|solution2/,
  'PIQA physical commonsense (LLM-Adapters generation mode; 1,838 test); accuracy',
);
export const siqa = commonsenseTask(
  'siqa',
  'siqa/llm-adapters',
  ANSWERS,
  'Social IQa (LLM-Adapters generation mode; 1,954 test); accuracy',
);
export const winogrande = commonsenseTask(
  'winogrande',
  'winogrande/llm-adapters',
  /option1|option2/,
  'WinoGrande (LLM-Adapters generation mode; 1,267 test); accuracy',
);
export const arcEasy = commonsenseTask(
  'arc-easy',
  'arc/llm-adapters/ARC-Easy',
  ANSWERS,
  'ARC-Easy (LLM-Adapters generation mode; 2,251 train / 2,376 test); accuracy',
);
export const arcChallenge = commonsenseTask(
  'arc-challenge',
  'arc/llm-adapters/ARC-Challenge',
  ANSWERS,
  'ARC-Challenge (LLM-Adapters generation mode; 1,119 train / 1,172 test); accuracy',
);
export const openbookqa = commonsenseTask(
  'openbookqa',
  'openbookqa/llm-adapters',
  ANSWERS,
  'OpenBookQA (LLM-Adapters generation mode; 4,957 train / 500 test); accuracy',
);
export const boolqGeneration = commonsenseTask(
  'boolq-generation',
  'boolq/llm-adapters',
  /true|false/,
  'BoolQ (LLM-Adapters generation mode; 9,427 train / 3,270 test); accuracy',
);
export const hellaswag = commonsenseTask(
  'hellaswag',
  'hellaswag/llm-adapters',
  /ending1|ending2|ending3|ending4/,
  'HellaSwag (LLM-Adapters generation mode, when its files are given); accuracy',
);
