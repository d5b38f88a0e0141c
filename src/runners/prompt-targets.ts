/** Encoding shared by the kinds fine-tuned as a causal LM on prompt → target pairs. */
import type { PromptTarget } from '../data/examples.js';
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
