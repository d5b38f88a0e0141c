/**
 * Token ids of a task prompt: encoded as it is, or — for chat variants, meant for instruct models — as the user
 * turn of the tokenizer's chat template with the assistant's generation prompt after it (transformers'
 * apply_chat_template with add_generation_prompt; the template writes any BOS itself, so none is added). Few-shot
 * chat variants put their examples before it as user/assistant turns (lm-eval's --fewshot_as_multiturn).
 */
import { UserError } from '../errors.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import type { ChatMessage } from '../models/tokenizers/hf-tokenizer.js';

interface ChatCapable {
  readonly hasChatTemplate: boolean;
  renderChat(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
}

function chatCapable(tokenizer: TextTokenizer): tokenizer is TextTokenizer & ChatCapable {
  return 'renderChat' in tokenizer && (tokenizer as unknown as ChatCapable).hasChatTemplate;
}

/** How a prompt is rendered: as it is, or as the last user turn of a chat after `chatHistory`'s turns. */
export interface PromptRendering {
  readonly chat?: boolean;
  readonly chatHistory?: readonly ChatMessage[];
}

export function promptIds(tokenizer: TextTokenizer, prompt: string, rendering: PromptRendering = {}): number[] {
  if (rendering.chat !== true) return tokenizer.encode(prompt);
  if (!chatCapable(tokenizer)) {
    throw new UserError(
      "This task's chat variant needs a model whose tokenizer has a chat template (an instruct model's folder); use the plain variant for base models.",
    );
  }
  const messages = [...(rendering.chatHistory ?? []), { role: 'user', content: prompt }];
  return tokenizer.encode(tokenizer.renderChat(messages, { addGenerationPrompt: true }), { addBos: false });
}

/**
 * A prompt and its continuation as one token sequence, with the index where the continuation starts: what causal-LM
 * fine-tuning learns (`end` = EOS after the target) and what reference NLLs score (no `end`). Past `maxLength` tokens
 * the prompt loses its start first, as lm-eval cuts scored inputs, so that the target — all fine-tuning learns from a
 * pair — survives; only a target longer than `maxLength` by itself loses its end. (Cutting the whole sequence's end
 * instead left 86% of ARC-Easy's LLM-Adapters training pairs without a target token at 384 byte-level tokens.)
 */
export function promptContinuationIds(
  tokenizer: TextTokenizer,
  prompt: string,
  continuation: string,
  options: PromptRendering & { readonly maxLength: number; readonly end?: readonly number[] },
): { ids: number[]; targetStart: number } {
  const promptTokens = promptIds(tokenizer, prompt, options);
  const continuationTokens = tokenizer.encode(continuation, { addBos: false });
  const ids = [...promptTokens, ...continuationTokens, ...(options.end ?? [])];
  const dropped = Math.min(promptTokens.length, Math.max(0, ids.length - options.maxLength));
  return {
    ids: ids.slice(dropped, dropped + options.maxLength),
    targetStart: promptTokens.length - dropped,
  };
}
