/**
 * ARC-Easy and ARC-Challenge scored zero-shot as lm-eval's arc_easy / arc_challenge do — context
 * "Question: {question}\nAnswer:", each choice's text as the continuation, acc and acc_norm — on the AI2 test JSONL
 * (arc/ARC-Easy-Test.jsonl, arc/ARC-Challenge-Test.jsonl), after fine-tuning on LLM-Adapters' ARC train file (the
 * paper's setup: instruction fine-tuning, then zero-shot evaluation).
 */
import { requireDataFile } from './data-dir.js';
import { readArcJsonl } from './loaders/arc.js';
import { readLlmAdaptersJson } from './loaders/llm-adapters.js';
import { instructionPairs } from './llm-adapters-format.js';
import type { MultipleChoiceTask } from './types.js';

function arcTask(name: string, variant: 'Easy' | 'Challenge', counts: string): MultipleChoiceTask {
  const files = [`arc/llm-adapters/ARC-${variant}/train.json`, `arc/ARC-${variant}-Test.jsonl`];
  return {
    name,
    description: `ARC-${variant}, zero-shot log-likelihood as lm-eval (${counts}); acc, acc_norm`,
    kind: 'multiple-choice',
    maxLength: 384,
    dataFiles: files,
    load(dataDir) {
      const train = readLlmAdaptersJson(requireDataFile(name, dataDir, files[0]!), '');
      const test = readArcJsonl(requireDataFile(name, dataDir, files[1]!), '');
      return {
        train: instructionPairs(train),
        eval: test.map((question) => ({
          id: question.id,
          context: `Question: ${question.question}\nAnswer:`,
          choices: question.choices,
          gold: question.gold,
        })),
      };
    },
  };
}

export const arcEasyMultipleChoice = arcTask('arc-easy-mc', 'Easy', '2,251 train / 2,376 test');
export const arcChallengeMultipleChoice = arcTask('arc-challenge-mc', 'Challenge', '1,119 train / 1,172 test');
