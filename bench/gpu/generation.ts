/**
 * The kit's decoding section: greedy generation with a LoRA (or DoRA) adapter applied, as an evaluation after
 * fine-tuning runs it (HumanEval's samples, GSM8K's answers), or with none (the base model's) — `batch` prompts of
 * `prompt` seeded random tokens, `tokens` new tokens each (no EOS, so every row runs to the end), the KV cache on, each
 * step reading its logits back. Reports tokens per second and, per decoding step (the prompt's step included,
 * averaged), milliseconds and compute dispatches: a step decodes one token per row, so its dispatches, each recorded by
 * the host, are what a GPU waits on. And how much tfjs-webgpu's buffer pool grew over the generation: its KV cache,
 * made once with room for every step (rope-append.ts), where a cache copied at each step left one per length.
 */
import { tf } from '../../src/engine/tf.js';
import { Rng } from '../../src/engine/rng.js';
import { generate } from '../../src/generation/generate.js';
import type { LlamaModel } from '../../src/models/llama/model.js';
import type { TextTokenizer } from '../../src/models/tokenizers/tokenizer.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import type { LoraConfig } from '../../src/peft/lora/config.js';
import { adapterConfigFor } from '../../src/peft/target-aliases.js';
import { registerWebGpuKernels } from '../../src/engine/kernels/register.js';
import { dispatches, poolBytes } from './tally.js';
import type { GenerationJoin } from '../../src/engine/generation-join.js';

export interface GenerationShape {
  readonly batch: number;
  readonly prompt: number;
  readonly tokens: number;
}

export async function generationSpeed(
  name: string,
  model: LlamaModel,
  tokenizer: TextTokenizer,
  lora: LoraConfig | undefined,
  { batch, prompt, tokens }: GenerationShape,
  kernels: 'mceval' | 'tfjs',
) {
  registerWebGpuKernels(kernels === 'mceval');
  // Without an adapter, the base model's decoding (an evaluation of the model itself).
  const adapter = lora === undefined ? undefined : loraMethod.apply(model, adapterConfigFor(model, lora), new Rng(5));
  const rng = new Rng(6);
  const prompts = Array.from({ length: batch }, () =>
    Array.from({ length: prompt }, () => 1 + rng.integer(model.config.vocabSize - 1)),
  );
  try {
    // Warm-up: compiles the prompt's and a decoding step's pipelines.
    await generate(model, tokenizer, prompts, { maxNewTokens: 2, eosTokenIds: [] });
    let steps = 0;
    const pooled = poolBytes();
    const dispatched = dispatches();
    const started = performance.now();
    await generate(model, tokenizer, prompts, {
      maxNewTokens: tokens,
      eosTokenIds: [],
      onStep: (done) => {
        steps = done;
      },
    });
    const seconds = (performance.now() - started) / 1000;
    const dispatchesPerStep = dispatched() / steps;
    return {
      backend: tf.getBackend(),
      method: lora === undefined ? 'base' : lora.useDora ? 'dora' : 'lora',
      kernels,
      model: name,
      batch,
      prompt,
      steps,
      tokensPerSecond: (batch * steps) / seconds,
      msPerStep: (seconds * 1000) / steps,
      dispatchesPerStep,
      poolGrowthBytes: poolBytes() - pooled,
    };
  } finally {
    adapter?.dispose();
  }
}

/** The shape of a sampled generation whose rows stop at different steps: `rows` prompts, `batch` decoded at once. */
export interface StoppingShape extends GenerationShape {
  readonly rows: number;
}

/**
 * The kit's joining section: a sampled generation with a LoRA adapter applied whose rows stop at different steps, as
 * HumanEval's samples do — `rows` prompts of `prompt` seeded random tokens from the vocabulary's upper half, at most
 * `tokens` new tokens, temperature 1, its lowest ids ending a row (about one row in three stops by a third of the
 * way) — `batch` rows decoded at once, waiting prompts joining the batch under way or once it has emptied
 * (MCEVAL_GENERATION_JOIN). The same tokens either way (each row draws from its own stream): the generation's
 * milliseconds (after the same generation untimed), its steps and the rows they ran, its dispatches.
 */
export async function joinSpeed(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  lora: LoraConfig,
  { rows, batch, prompt, tokens }: StoppingShape,
  join: GenerationJoin,
) {
  registerWebGpuKernels(true);
  const adapter = loraMethod.apply(model, adapterConfigFor(model, lora), new Rng(5));
  const rng = new Rng(7);
  const vocab = model.config.vocabSize;
  const half = Math.floor(vocab / 2);
  const prompts = Array.from({ length: rows }, () =>
    Array.from({ length: prompt }, () => half + rng.integer(vocab - half)),
  );
  // Each step ends a row with about 3 / tokens of chance.
  const eosTokenIds = Array.from({ length: Math.max(1, Math.round((3 * vocab) / tokens)) }, (_, i) => 1 + i);
  const options = { eosTokenIds, sampling: { temperature: 1, topK: 0, topP: 1 }, seed: 8, batchSize: batch, join };
  let rowsRun = 0;
  const decode = model.decode.bind(model);
  try {
    // Warm-up: the same generation, untimed, compiles every pipeline the timed one runs (a shader may be made for each
    // shape, and joining makes shapes that batches in turn do not).
    await generate(model, tokenizer, prompts, { ...options, maxNewTokens: tokens });
    model.decode = ((input, ...rest) => {
      if (input.length === 1) rowsRun += input.batchSize;
      return decode(input, ...rest);
    }) as typeof model.decode;
    let steps = 0;
    const dispatched = dispatches();
    const started = performance.now();
    const generated = await generate(model, tokenizer, prompts, {
      ...options,
      maxNewTokens: tokens,
      onStep: (done) => {
        steps = done;
      },
    });
    const ms = performance.now() - started;
    const newTokens = generated.reduce((sum, row) => sum + row.ids.length, 0);
    return {
      join,
      rows,
      batch,
      prompt,
      maxNewTokens: tokens,
      newTokens,
      ms,
      steps,
      stepRowsRun: rowsRun,
      dispatches: dispatched(),
      tokensPerSecond: newTokens / (ms / 1000),
    };
  } finally {
    model.decode = decode;
    adapter.dispose();
  }
}
