/**
 * gsm8k: fine-tuned on the train split (question → answer), evaluated zero-shot on the test split with lm-eval's
 * prompt, stop sequences, filters and exact match. Files: gsm8k/train.jsonl, gsm8k/test.jsonl (openai's JSONL), or
 * the hub's openai/gsm8k export.
 */
import { GSM8K_STOP_SEQUENCES, gsm8kExemplars, gsm8kPrompt, gsm8kQuestion } from './scoring.js';
import { PythonRandom } from './python-random.js';
import { gsm8kData, gsm8kDocs, gsm8kTrainingPairs, scoreGsm8kResponses } from './data.js';
import type { GenerationTask } from '../types.js';

export const gsm8k: GenerationTask = {
  name: 'gsm8k',
  description:
    'GSM8K grade-school math (7,473 train / 1,319 test); exact match after strict-match and flexible-extract',
  kind: 'generation',
  maxLength: 512,
  maxNewTokens: 256,
  stopSequences: GSM8K_STOP_SEQUENCES,
  ...gsm8kData('gsm8k', { train: gsm8kTrainingPairs, eval: (test) => gsm8kDocs(test) }),
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
  ...gsm8kData('gsm8k-chat', {
    train: (train) => gsm8kTrainingPairs(train).map((pair) => ({ ...pair, chat: true })),
    eval: (test) => gsm8kDocs(test).map((doc) => ({ ...doc, chat: true })),
  }),
};

/**
 * lm-eval's default n-shot setting: 5 train examples before each question, drawn by its sampler — Python's
 * random.Random seeded with lm-eval's default fewshot_random_seed, 1234 — so the prompts are lm-eval's own.
 */
export const GSM8K_SHOTS = 5;
const LM_EVAL_FEWSHOT_SEED = 1234;

/**
 * GSM8K with `shots` train examples before each question (`gsm8k-<n>shot`; lm-eval's --num_fewshot n). With `chat`
 * (`gsm8k-<n>shot-chat`, instruct models) the examples are user/assistant turns of the model's chat template before
 * the question's turn, as lm-eval's --apply_chat_template --fewshot_as_multiturn renders them.
 */
export function gsm8kNShot(shots: number, chat = false): GenerationTask {
  const name = `gsm8k-${shots}shot${chat ? '-chat' : ''}`;
  return {
    ...gsm8k,
    name,
    description:
      `GSM8K with ${shots} train examples before each question, lm-eval's draw (seed 1234)` +
      `${chat ? ', as chat turns (instruct models)' : ''}; exact match, both filters`,
    // maxLength stays gsm8k's: fine-tuning pairs are zero-shot; evaluation prompts are cut only by the model's window.
    ...gsm8kData(name, {
      train: (train) => gsm8kTrainingPairs(train).map((pair) => (chat ? { ...pair, chat: true } : pair)),
      eval: (test, readTrain) => {
        const train = readTrain();
        const sampler = new PythonRandom(LM_EVAL_FEWSHOT_SEED);
        return gsm8kDocs(test).map((doc, i) => {
          if (!chat) return { ...doc, prompt: gsm8kPrompt(test[i]!, train, shots, sampler) };
          const chatHistory = gsm8kExemplars(test[i]!, train, shots, sampler).flatMap((shot) => [
            { role: 'user', content: gsm8kQuestion(shot) },
            { role: 'assistant', content: shot.answer },
          ]);
          return { ...doc, chat: true, chatHistory };
        });
      },
    }),
  };
}

export const gsm8kFewShot = gsm8kNShot(GSM8K_SHOTS);
export const gsm8kFewShotChat = gsm8kNShot(GSM8K_SHOTS, true);
