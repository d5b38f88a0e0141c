/**
 * A sampled generation whose rows stop at different steps, as a code or math task's do, run by the tests of continuous
 * batching on each backend (test/continuous-batching.test.ts on wasm and cpu, test/webgpu/generation-cache.test.ts):
 * ten prompts of 1 to 41 tokens on builtin:tiny, temperature 1.5, 24 of its 259 ids ending a row (rows run from none
 * to all 12 new tokens), each row drawing from its own stream.
 */
import { generate, type GeneratedRow, type GenerationOptions } from '../src/generation/generate.js';
import type { LlamaModel } from '../src/models/llama/model.js';
import type { TextTokenizer } from '../src/models/tokenizers/tokenizer.js';

export const TEXTS = [
  'a',
  'the cat sat on the mat',
  'once upon a time there was',
  'b',
  'hello world',
  'to be or not to be, that is the question',
  'x y z',
  'def f(x):',
  'in the beginning',
  'ok',
];

export const SAMPLED: GenerationOptions = {
  maxNewTokens: 12,
  eosTokenIds: Array.from({ length: 24 }, (_, i) => 3 + i),
  sampling: { temperature: 1.5, topK: 0, topP: 1 },
  seed: 5,
};

/** Each prompt generated alone, from its own stream: the tokens a row must get in any batch. */
export async function eachAlone(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  options: GenerationOptions = SAMPLED,
): Promise<GeneratedRow[]> {
  const rows: GeneratedRow[] = [];
  for (const [i, text] of TEXTS.entries()) {
    rows.push(...(await generate(model, tokenizer, [tokenizer.encode(text)], { ...options, streams: [i] })));
  }
  return rows;
}

/** The shape of each decoding pass of `run` (`rows×tokens`): prompt passes run more than one token. */
export async function decodingPasses<T>(
  model: LlamaModel,
  run: () => Promise<T>,
): Promise<{ value: T; passes: string[] }> {
  const passes: string[] = [];
  const decode = model.decode.bind(model);
  model.decode = ((input, ...rest) => {
    passes.push(`${input.batchSize}×${input.length}`);
    return decode(input, ...rest);
  }) as typeof model.decode;
  try {
    return { value: await run(), passes };
  } finally {
    model.decode = decode;
  }
}

/**
 * Whether prompts joined a batch under way: a prompt pass followed by a step of more rows (the rows already decoding
 * and the joining ones; the case's prompts are distinct, so a prompt pass runs every row it takes in).
 */
export function joinedUnderWay(passes: readonly string[]): boolean {
  const rows = (pass: string) => Number(pass.split('×')[0]);
  return passes.some(
    (pass, i) => !pass.endsWith('×1') && passes[i + 1]?.endsWith('×1') && rows(passes[i + 1]!) > rows(pass),
  );
}
