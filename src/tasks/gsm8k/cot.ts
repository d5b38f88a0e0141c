/**
 * GSM8K with the eight chain-of-thought exemplars before each question, as lm-eval's gsm8k_cot and gsm8k_cot_llama
 * build it:
 *  - `gsm8k-cot` (base models): "Q: …\nA: <reasoning> The answer is N." exemplars joined by blank lines, then
 *    "Q: <question>\nA:"; stops "Q:", "</s>", "<|im_end|>"; strict-match takes the number after "The answer is".
 *  - `gsm8k-cot-llama` (instruct models): Llama-3's evaluation wording, the exemplars as user/assistant turns of the
 *    model's chat template before the question's user turn (lm-eval's --apply_chat_template --fewshot_as_multiturn);
 *    answers end "The final answer is N"; strict-match takes the number after it (last group set, first non-empty).
 * Both compare with the reference's final number (lm-eval's doc_to_target, the text after "####"), after the same
 * exact-match normalisation as gsm8k. Fine-tuning data: the train split's solutions rewritten in the variant's
 * answer style (calculator annotations "<<…>>" dropped, lines joined, the closing sentence added), without exemplars.
 */
import type { ChatMessage } from '../../models/tokenizers/hf-tokenizer.js';
import type { Gsm8kExample } from '../../data/loaders/gsm8k.js';
import { GSM8K_FILTERS, gsm8kFinalAnswer, type Gsm8kFilters } from './scoring.js';
import { GSM8K_COT_EXEMPLARS, type CotExemplar } from './cot-exemplars.js';
import { gsm8kData, scoreGsm8kResponses } from './data.js';
import type { GenerationTask } from '../types.js';

export const GSM8K_COT_FILTERS: Gsm8kFilters = {
  'strict-match': { pattern: /The answer is (-?[0-9.,]+)./, groupSelect: 0 },
  'flexible-extract': GSM8K_FILTERS['flexible-extract'],
};

export const GSM8K_COT_LLAMA_FILTERS: Gsm8kFilters = {
  'strict-match': { pattern: /The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))/, groupSelect: -1 },
  'flexible-extract': GSM8K_FILTERS['flexible-extract'],
};

/** A GSM8K solution as one chain of reasoning: annotations dropped, the steps before "####" joined by spaces. */
export function gsm8kReasoning(answer: string): string {
  const steps = answer.slice(0, answer.lastIndexOf('####')).replace(/<<[^>]*>>/g, '');
  return steps
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}

function asExemplar(example: Gsm8kExample): CotExemplar {
  return {
    question: example.question,
    reasoning: gsm8kReasoning(example.answer),
    answer: gsm8kFinalAnswer(example.answer),
  };
}

const cotQuestion = (question: string): string => `Q: ${question}\nA:`;
const cotAnswer = (exemplar: CotExemplar): string => `${exemplar.reasoning} The answer is ${exemplar.answer}.`;

/** gsm8k_cot's prompt: the eight exemplars, then the question. */
export function gsm8kCotPrompt(question: string): string {
  const shots = GSM8K_COT_EXEMPLARS.map((shot) => `${cotQuestion(shot.question)} ${cotAnswer(shot)}`);
  return [...shots, cotQuestion(question)].join('\n\n');
}

/** gsm8k_cot_llama's user turn. */
export function llamaCotQuestion(question: string): string {
  return (
    'Given the following problem, reason and give a final answer to the problem.\n' +
    `Problem: ${question}\n` +
    'Your response should end with "The final answer is [answer]" where [answer] is the response to the problem.\n'
  );
}

const llamaCotAnswer = (exemplar: CotExemplar): string =>
  `${exemplar.reasoning} The final answer is ${exemplar.answer}`;

/** gsm8k_cot_llama's few-shot turns: each exemplar as a user question and the assistant's answer. */
export const LLAMA_COT_HISTORY: readonly ChatMessage[] = GSM8K_COT_EXEMPLARS.flatMap((shot) => [
  { role: 'user', content: llamaCotQuestion(shot.question) },
  { role: 'assistant', content: llamaCotAnswer(shot) },
]);

export const gsm8kCot: GenerationTask = {
  name: 'gsm8k-cot',
  description: "GSM8K with Wei et al.'s 8 chain-of-thought exemplars (lm-eval gsm8k_cot); exact match, both filters",
  kind: 'generation',
  // Fine-tuning pairs are zero-shot; the exemplar prompts are cut only by the model's window.
  maxLength: 512,
  maxNewTokens: 256,
  stopSequences: ['Q:', '</s>', '<|im_end|>'],
  ...gsm8kData('gsm8k-cot', {
    train: (train) =>
      train.map((example) => ({
        prompt: cotQuestion(example.question),
        target: ` ${cotAnswer(asExemplar(example))}`,
      })),
    eval: (test) =>
      test.map((example, index) => ({
        id: String(index),
        prompt: gsm8kCotPrompt(example.question),
        reference: ` ${cotAnswer(asExemplar(example))}`,
        answer: gsm8kFinalAnswer(example.answer),
      })),
  }),
  score: async (docs, responses) => scoreGsm8kResponses(docs, responses, GSM8K_COT_FILTERS),
};

export const gsm8kCotLlama: GenerationTask = {
  ...gsm8kCot,
  name: 'gsm8k-cot-llama',
  description:
    "GSM8K, 8 CoT exemplars as chat turns of the model's template (lm-eval gsm8k_cot_llama, multi-turn); exact match",
  stopSequences: ['<|eot_id|>', '<|start_header_id|>user<|end_header_id|>', 'Q:', '</s>', '<|im_end|>'],
  ...gsm8kData('gsm8k-cot-llama', {
    train: (train) =>
      train.map((example) => ({
        prompt: llamaCotQuestion(example.question),
        target: llamaCotAnswer(asExemplar(example)),
        chat: true,
      })),
    eval: (test) =>
      test.map((example, index) => ({
        id: String(index),
        prompt: llamaCotQuestion(example.question),
        reference: llamaCotAnswer(asExemplar(example)),
        answer: gsm8kFinalAnswer(example.answer),
        chat: true,
        chatHistory: LLAMA_COT_HISTORY,
      })),
  }),
  score: async (docs, responses) => scoreGsm8kResponses(docs, responses, GSM8K_COT_LLAMA_FILTERS),
};
