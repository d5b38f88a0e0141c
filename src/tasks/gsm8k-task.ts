/**
 * gsm8k: fine-tuned on the train split (question → answer), evaluated zero-shot on the test split with lm-eval's
 * prompt, stop sequences, filters and exact match. Files: gsm8k/train.jsonl, gsm8k/test.jsonl (openai's JSONL), or
 * the hub's openai/gsm8k export.
 */
import { GSM8K_STOP_SEQUENCES, gsm8kPrompt } from './gsm8k.js';
import { PythonRandom } from '../engine/python-random.js';
import { gsm8kData, gsm8kDocs, gsm8kTrainingPairs, scoreGsm8kResponses } from './gsm8k-format.js';
import type { GenerationTask } from './types.js';

export const gsm8k: GenerationTask = {
  name: 'gsm8k',
  description:
    'GSM8K grade-school math (7,473 train / 1,319 test); exact match after strict-match and flexible-extract',
  kind: 'generation',
  maxLength: 512,
  maxNewTokens: 256,
  stopSequences: GSM8K_STOP_SEQUENCES,
  ...gsm8kData('gsm8k', (train, test) => ({ train: gsm8kTrainingPairs(train), eval: gsm8kDocs(test) })),
  score: async (docs, responses) => scoreGsm8kResponses(docs, responses),
};

/**
 * For instruct models: each question as the user turn of the model's chat template (lm-eval's
 * --apply_chat_template), fine-tuned and evaluated that way; the answer is scored as in `gsm8k`.
 */
export const gsm8kChat: GenerationTask = {
  ...gsm8k,
  name: 'gsm8k-chat',
  description: "GSM8K through the model's chat template (instruct models); exact match, strict and flexible",
  ...gsm8kData('gsm8k-chat', (train, test) => ({
    train: gsm8kTrainingPairs(train).map((pair) => ({ ...pair, chat: true })),
    eval: gsm8kDocs(test).map((doc) => ({ ...doc, chat: true })),
  })),
};

/**
 * lm-eval's default n-shot setting: 5 train examples before each question, drawn by its sampler — Python's
 * random.Random seeded with lm-eval's default fewshot_random_seed, 1234 — so the prompts are lm-eval's own.
 */
export const GSM8K_SHOTS = 5;
const LM_EVAL_FEWSHOT_SEED = 1234;

export const gsm8kFewShot: GenerationTask = {
  ...gsm8k,
  name: 'gsm8k-5shot',
  description:
    "GSM8K with 5 train examples before each question, lm-eval's draw (seed 1234); exact match, both filters",
  maxLength: 1536,
  ...gsm8kData('gsm8k-5shot', (train, test) => {
    const sampler = new PythonRandom(LM_EVAL_FEWSHOT_SEED);
    const docs = gsm8kDocs(test).map((doc, i) => ({
      ...doc,
      prompt: gsm8kPrompt(test[i]!, train, GSM8K_SHOTS, sampler),
    }));
    return { train: gsm8kTrainingPairs(train), eval: docs };
  }),
};
