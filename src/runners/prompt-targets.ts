/** Encoding shared by the kinds fine-tuned as a causal LM on prompt → target pairs. */
import type { PromptTarget } from '../data/examples.js';
import { limitPromptTargetSplits } from '../data/limit.js';
import { promptContinuationIds } from '../evaluation/prompt-rendering.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import type { EncodedExample } from '../train/fine-tune.js';

/** Prompt + target as one sequence, with where the target starts; the prompt keeps the tokenizer's BOS. */
export function encodePromptTargets(
  tokenizer: TextTokenizer,
  examples: readonly PromptTarget[],
  maxLength: number,
): EncodedExample[] {
  return examples.map((example) => ({
    ...promptContinuationIds(tokenizer, example.prompt, example.target, {
      chat: example.chat,
      chatHistory: example.chatHistory,
      maxLength,
      end: [tokenizer.eosId],
    }),
    label: 0,
  }));
}

/** What the kinds fine-tuned on prompt → target pairs share: data cutting, the causal-LM objective and encoding. */
export const promptTargetTraining = {
  objective: 'causal-lm',
  limit: limitPromptTargetSplits,
  evaluationSize: (data: { readonly eval: readonly unknown[] }) => data.eval.length,
  promptTargets: (data: { readonly train: readonly PromptTarget[] }) => data.train,
  prepareModel: () => [],
  encodeTraining: (
    tokenizer: TextTokenizer,
    task: { readonly maxLength: number },
    data: { readonly train: readonly PromptTarget[] },
  ) => encodePromptTargets(tokenizer, data.train, task.maxLength),
} as const;
