/**
 * ARC-Easy and ARC-Challenge scored zero-shot as lm-eval's arc_easy / arc_challenge do — context
 * "Question: {question}\nAnswer:", each choice's text as the continuation, acc and acc_norm — on the AI2 test JSONL
 * (arc/ARC-Easy-Test.jsonl, arc/ARC-Challenge-Test.jsonl), after fine-tuning on LLM-Adapters' ARC train file (the
 * paper's setup: instruction fine-tuning, then zero-shot evaluation). The test split may come from the hub's
 * allenai/ai2_arc instead; the fine-tuning file is LLM-Adapters' either way.
 */
import { requireDataFile } from '../../data/data-dir.js';
import { lazySplits } from '../../data/lazy-splits.js';
import { hubChoiceQuestions, readArcJsonl, type MultipleChoiceExample } from '../../data/loaders/arc.js';
import { readLlmAdaptersJson } from '../../data/loaders/llm-adapters.js';
import { instructionPairs } from '../../data/llm-adapters-prompt.js';
import type { MultipleChoiceDoc, MultipleChoiceTask, PromptTarget } from '../types.js';

function arcTask(name: string, variant: 'Easy' | 'Challenge', counts: string): MultipleChoiceTask {
  const files = [`arc/llm-adapters/ARC-${variant}/train.json`, `arc/ARC-${variant}-Test.jsonl`];
  return {
    name,
    description: `ARC-${variant}, zero-shot log-likelihood as lm-eval (${counts}); acc, acc_norm`,
    kind: 'multiple-choice',
    maxLength: 384,
    dataFiles: files,
    load(dataDir) {
      return lazySplits({
        train: () => arcTraining(requireDataFile(name, dataDir, files[0]!)),
        eval: () => arcDocs(readArcJsonl(requireDataFile(name, dataDir, files[1]!), '')),
      });
    },
    hub: {
      splits: { eval: { repo: 'allenai/ai2_arc', config: `ARC-${variant}`, split: 'test' } },
      load: (rows, dataDir) => ({
        train: arcTraining(requireDataFile(name, dataDir, files[0]!)),
        eval: arcDocs(hubChoiceQuestions(rows['eval']!)),
      }),
    },
  };
}

function arcTraining(trainPath: string): PromptTarget[] {
  return instructionPairs(readLlmAdaptersJson(trainPath, ''));
}

function arcDocs(test: readonly MultipleChoiceExample[]): MultipleChoiceDoc[] {
  return test.map((question) => ({
    id: question.id,
    context: `Question: ${question.question}\nAnswer:`,
    choices: question.choices,
    gold: question.gold,
  }));
}

export const arcEasyMultipleChoice = arcTask('arc-easy-mc', 'Easy', '2,251 train / 2,376 test');
export const arcChallengeMultipleChoice = arcTask('arc-challenge-mc', 'Challenge', '1,119 train / 1,172 test');
