/**
 * mceval → safetensors → mceval is lossless for every method: trained-looking (randomised) adapter tensors are saved
 * in PEFT's layout, loaded into a fresh copy of the base model, and give bit-identical tensors and logits.
 * (AdaLoRA's and MonteCLoRA's round trips, with their extra state, are in their own test files.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, type Variable } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { padBatch } from '../src/models/tokenizers/padding.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import type { LlamaModel } from '../src/models/llama/model.js';
import type { AppliedAdapter } from '../src/peft/types.js';
import { loraMethod } from '../src/peft/lora/index.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { loadLoraAdapter, saveLoraAdapter } from '../src/peft/lora/peft-format.js';
import { ia3Method } from '../src/peft/ia3/index.js';
import { parseIa3Config } from '../src/peft/ia3/config.js';
import { loadIa3Adapter, saveIa3Adapter } from '../src/peft/ia3/peft-format.js';
import { initTokenIds, parsePromptTuningConfig, promptTuningMethod } from '../src/peft/prompt-tuning/index.js';
import { loadPromptTuningAdapter, savePromptTuningAdapter } from '../src/peft/prompt-tuning/peft-format.js';
import { fullFineTuningMethod } from '../src/peft/full/index.js';
import { saveLlamaFolder } from '../src/models/hf/save-folder.js';
import { loadLlamaFolder } from '../src/models/hf/load-folder.js';
import { generate } from '../src/generation/generate.js';
import { useTestBackend } from './helpers.js';

await useTestBackend();

const texts = ['a fine film', 'not good at all', 'ok'];

function logitsOf(model: LlamaModel): Float32Array {
  const { tokenizer } = loadModel('builtin:tiny');
  const batch = padBatch(
    texts.map((t) => tokenizer.encode(t)),
    tokenizer.padId,
  );
  return tf.tidy(() => model.lmLogits(batch, EVAL_CONTEXT).dataSync() as Float32Array);
}

/** Replaces every trainable tensor of the adapter with random values, as training would move them. */
function randomise(adapter: AppliedAdapter, seed: number): void {
  const rng = new Rng(seed);
  for (const variable of adapter.groups.flatMap((g) => g.variables)) {
    variable.assign(
      tf.tensor(
        rng.normalArray(variable.size).map((v) => 1 + 0.3 * v),
        variable.shape,
      ),
    );
  }
}

const snapshot = (variables: readonly Variable[]) => variables.map((v) => Array.from(v.dataSync()));

function roundTrip(
  label: string,
  apply: (model: LlamaModel) => AppliedAdapter,
  save: (model: LlamaModel, dir: string) => void,
  load: (model: LlamaModel, dir: string) => AppliedAdapter,
): void {
  test(`${label}: save → load is lossless`, () => {
    const source = loadModel('builtin:tiny').model;
    const adapter = apply(source);
    randomise(adapter, 7);
    const tensors = snapshot(adapter.groups.flatMap((g) => g.variables));
    const logits = logitsOf(source);
    const dir = mkdtempSync(join(tmpdir(), 'mceval-roundtrip-'));
    try {
      save(source, dir);
      const target = loadModel('builtin:tiny').model;
      const loaded = load(target, dir);
      assert.deepEqual(snapshot(loaded.groups.flatMap((g) => g.variables)), tensors);
      assert.deepEqual(Array.from(logitsOf(target)), Array.from(logits));
      loaded.dispose();
      target.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      adapter.dispose();
      source.dispose();
    }
  });
}

const lora = parseLoraConfig({ r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, 'test');
roundTrip(
  'LoRA',
  (model) => loraMethod.apply(model, lora, new Rng(1)),
  (model, dir) => saveLoraAdapter(model, lora, dir),
  (model, dir) => loadLoraAdapter(model, dir).adapter,
);
const dora = { ...lora, useDora: true };
roundTrip(
  'DoRA',
  (model) => loraMethod.apply(model, dora, new Rng(1)),
  (model, dir) => saveLoraAdapter(model, dora, dir),
  (model, dir) => loadLoraAdapter(model, dir).adapter,
);
const ia3 = parseIa3Config({}, 'test');
roundTrip(
  'IA3',
  (model) => ia3Method.apply(model, ia3, new Rng(1)),
  (model, dir) => saveIa3Adapter(model, ia3, dir),
  (model, dir) => loadIa3Adapter(model, dir).adapter,
);
const prompt = parsePromptTuningConfig({ numVirtualTokens: 5 }, 'test');
roundTrip(
  'prompt tuning',
  (model) => promptTuningMethod.apply(model, prompt, new Rng(1)),
  (model, dir) => savePromptTuningAdapter(model, prompt, dir),
  (model, dir) => loadPromptTuningAdapter(model, dir).adapter,
);
roundTrip(
  'full fine-tuning (a Hugging Face folder)',
  (model) => fullFineTuningMethod.apply(model, {}, new Rng(1)),
  (model, dir) => saveLlamaFolder(model, dir),
  (model, dir) => {
    // The saved folder is a whole model: load it and move its weights into `model`, the fresh copy.
    const loaded = loadLlamaFolder(dir);
    const source = loaded.namedParameters();
    model.namedParameters().forEach(({ variable }, i) => variable.assign(source[i]!.variable));
    loaded.dispose();
    return fullFineTuningMethod.apply(model, {}, new Rng(1));
  },
);

test('prompt tuning text init: the embeddings of the text tokens (special tokens included), repeated to length', () => {
  const { model, tokenizer } = loadModel('builtin:tiny');
  const config = parsePromptTuningConfig({ numVirtualTokens: 7, init: 'text', initText: 'abc' }, 'test');
  const ids = initTokenIds(tokenizer, 'abc', 7);
  const encoded = tokenizer.encode('abc');
  assert.deepEqual(
    ids,
    Array.from({ length: 7 }, (_, i) => encoded[i % encoded.length]),
  );
  assert.throws(() => promptTuningMethod.apply(model, config, new Rng(0)), /needs the model's tokenizer/);
  const adapter = promptTuningMethod.apply(model, config, new Rng(0), tokenizer);
  const expected = tf.tidy(() => tf.gather(model.embedTokens, tf.tensor1d(ids, 'int32')).dataSync());
  assert.deepEqual(Array.from(model.promptEmbeddings!.dataSync()), Array.from(expected));
  assert.throws(() => parsePromptTuningConfig({ init: 'text' }, 'p.json'), /"initText"/);
  adapter.dispose();
  model.dispose();
});

test('generation under a soft prompt: the KV cache gives the same tokens and log-probs as recomputation', async () => {
  const { model, tokenizer } = loadModel('builtin:tiny');
  const adapter = promptTuningMethod.apply(model, prompt, new Rng(3));
  randomise(adapter, 4);
  const prompts = ['once upon', 'a', 'the cat sat on'].map((t) => tokenizer.encode(t));
  const run = async (useCache: boolean) =>
    await generate(model, tokenizer, prompts, { maxNewTokens: 6, useCache, eosTokenIds: [] });
  const cached = await run(true);
  const recomputed = await run(false);
  cached.forEach((row, i) => {
    assert.deepEqual(row.ids, recomputed[i]!.ids);
    row.logprobs.forEach((lp, j) => assert.ok(Math.abs(lp - recomputed[i]!.logprobs[j]!) < 1e-4));
  });
  adapter.dispose();
  model.dispose();
});
