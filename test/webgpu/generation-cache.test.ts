/**
 * Generation on webgpu with its KV cache made once, with room for the whole generation, and written into at each step
 * (engine/kernels/webgpu/rope-append.ts): under a soft prompt, whose positions the cache holds first, the cached tokens
 * are those of recomputing the whole sequence and those of wasm (prompts of three lengths, left-padded, two of them
 * twice; then with rows that stop early and leave the batch). And tfjs's buffer pool grows by a cache once per
 * generation, not by one per step: a cache copied at each step left a freed buffer of every length in the pool. Rows
 * that join a batch under way (continuous batching) get the tokens of wasm (test/continuous-batching-case.ts's sampled
 * case), their joined cache made with room that every later step writes into.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import type { LlamaModel } from '../../src/models/llama/model.js';
import { loadModel } from '../../src/models/load.js';
import { generate } from '../../src/generation/generate.js';
import { parsePromptTuningConfig, promptTuningMethod } from '../../src/peft/prompt-tuning/index.js';
import { headDim } from '../../src/models/llama/config.js';
import { SAMPLED, TEXTS, decodingPasses, joinedUnderWay } from '../continuous-batching-case.js';

// Two repeated: their rows share one prompt pass, the cache (with its room) copied to each.
const PROMPTS = ['once upon', 'a', 'the cat sat on', 'a', 'once upon'];

async function softPromptRows(
  backend: 'wasm' | 'webgpu',
  useCache: boolean,
  eosTokenIds: readonly number[] = [],
): Promise<number[][]> {
  await initEngine(backend);
  const { model, tokenizer } = loadModel('builtin:tiny');
  const config = parsePromptTuningConfig({ numVirtualTokens: 5, init: 'random' }, 'test');
  const adapter = promptTuningMethod.apply(model, config, new Rng(3));
  try {
    const rows = await generate(
      model,
      tokenizer,
      PROMPTS.map((text) => tokenizer.encode(text)),
      { maxNewTokens: 10, useCache, eosTokenIds },
    );
    return rows.map((row) => row.ids);
  } finally {
    adapter.dispose();
    model.dispose();
  }
}

test('under a soft prompt the cached tokens are the recomputed ones and wasm ones', async () => {
  const cached = await softPromptRows('webgpu', true);
  assert.deepEqual(cached, await softPromptRows('webgpu', false));
  assert.deepEqual(cached, await softPromptRows('wasm', true));
});

test('rows that stop leave the batch: the tokens of the rows left are those of wasm and of recomputing', async () => {
  // The first row's first greedy token made EOS: rows stop at different steps, and once at most half the batch is
  // still decoding the rest leave it, their cache rows gathered (with its room) into a smaller cache.
  const eos = [(await softPromptRows('wasm', true))[0]![0]!];
  const wasm = await softPromptRows('wasm', true, eos);
  const stopped = wasm.filter((ids) => ids.length < 10).length;
  assert.ok(stopped > PROMPTS.length / 2 && stopped < PROMPTS.length, `${stopped} of ${PROMPTS.length} rows stopped`);
  assert.deepEqual(await softPromptRows('webgpu', true, eos), wasm);
  assert.deepEqual(await softPromptRows('webgpu', false, eos), wasm);
});

for (const virtualTokens of [0, 5]) {
  test(`a generation grows tfjs's buffer pool by its KV cache once, not once per step (${virtualTokens} virtual tokens)`, async () => {
    await initEngine('webgpu');
    const pool = (tf.backend() as unknown as { bufferManager: { numBytesAllocated: number } }).bufferManager;
    const { model, tokenizer } = loadModel('builtin:tiny');
    const softPrompt = () => parsePromptTuningConfig({ numVirtualTokens: virtualTokens, init: 'random' }, 'test');
    const adapter = virtualTokens > 0 ? promptTuningMethod.apply(model, softPrompt(), new Rng(3)) : undefined;
    const prompts = ['once upon', 'the cat'].map((text) => tokenizer.encode(text));
    const run = (maxNewTokens: number) => generate(model, tokenizer, prompts, { maxNewTokens, eosTokenIds: [] });
    try {
      // Every shape but the cache's has its buffers in the pool after a first generation.
      await run(4);
      const before = pool.numBytesAllocated;
      const tokens = 48;
      await run(tokens);
      const grown = pool.numBytesAllocated - before;
      const { numHiddenLayers, numKeyValueHeads } = model.config;
      const positions = virtualTokens + Math.max(...prompts.map((p) => p.length)) + tokens - 1;
      // Keys and values of every layer, float32, with room for every position.
      const cacheBytes =
        numHiddenLayers * 2 * prompts.length * positions * numKeyValueHeads * headDim(model.config) * 4;
      // The cache, the key mask's upload at the cache's length, and a reading's staging: under two caches, where a
      // cache per step came to tens.
      assert.ok(grown <= 2 * cacheBytes, `the pool grew by ${grown} bytes against a cache of ${cacheBytes}`);
    } finally {
      adapter?.dispose();
      model.dispose();
    }
  });
}

/** Runs `body`, counting the decoding steps whose cache came back in a buffer other than the one they were given. */
async function cacheCopies<T>(model: LlamaModel, body: () => Promise<T>): Promise<{ value: T; copies: number }> {
  let copies = 0;
  const decode = model.decode.bind(model);
  model.decode = ((input, context, options = {}) => {
    const out = decode(input, context, options);
    const id = (t: Tensor | undefined) => (t as unknown as { dataId: object } | undefined)?.dataId;
    if (options.past !== undefined && id(out.cache?.keys[0]) !== id(options.past.keys[0])) copies++;
    return out;
  }) as typeof model.decode;
  try {
    return { value: await body(), copies };
  } finally {
    model.decode = decode;
  }
}

test('rows that join a batch under way get the tokens of wasm, their joined cache made with room that every step writes into', async () => {
  const run = async (backend: 'wasm' | 'webgpu') => {
    await initEngine(backend);
    const { model, tokenizer } = loadModel('builtin:tiny');
    try {
      const prompts = TEXTS.map((text) => tokenizer.encode(text));
      const generation = () => generate(model, tokenizer, prompts, { ...SAMPLED, join: 'under-way', batchSize: 4 });
      const { value, copies } = await cacheCopies(model, () => decodingPasses(model, generation));
      return { ...value, copies };
    } finally {
      model.dispose();
    }
  };
  const wasm = await run('wasm');
  const webgpu = await run('webgpu');
  assert.ok(joinedUnderWay(wasm.passes), wasm.passes.join(' '));
  assert.ok(joinedUnderWay(webgpu.passes), webgpu.passes.join(' '));
  assert.deepEqual(
    webgpu.value.map((row) => row.ids),
    wasm.value.map((row) => row.ids),
  );
  webgpu.value.forEach((row, i) =>
    row.logprobs.forEach((value, j) => assert.ok(Math.abs(value - wasm.value[i]!.logprobs[j]!) < 1e-4, `${i}, ${j}`)),
  );
  // A joined cache is made with room for the rows' remaining tokens: every step writes into its cache.
  assert.equal(webgpu.copies, 0, `${webgpu.copies} steps copied the cache`);
});
