/**
 * WebGPU against wasm from the same seeds (npm run test:webgpu, on the software adapter
 * scripts/setup-webgpu-software.sh unpacks, or on a real GPU): a LoRA, a DoRA (with dropout and without), a MonteCLoRA
 * and an AdaLoRA (pruning 4 → 2) fine-tuning run on every linear layer (four AdamW steps with clipping and two
 * micro-batches each, classification head), IA3, LoRA+, full fine-tuning and prompt tuning as their presets ship, a
 * LoRA and a MonteCLoRA run on a tiny BERT classifying sentence pairs, and prompt tuning on a tiny RoBERTa; the runs
 * and the scoring of the trained model agree — losses and gradient norms within 2e-4 relative, trained adapter values
 * within 1e-3 absolute (a tenth of one AdamW step), dev NLL within 1e-4 — the tolerance of float32 kernels that sum in
 * another order. Greedy generation gives the same tokens and continuation scoring the same log-likelihoods (1e-4); the
 * causal-LM loss of a target-masked batch through the tied head (whole, in chunks of rows, and with the embedding
 * trained) and its gradients agree to 1e-5 and 1e-4. MonteCLoRA runs as the paper states it, with exact Dirichlet
 * weights (its concentrations read back before each step) and with two outer samples, ε² and a random Dirichlet prior.
 * A synchronous read fails with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Variable } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { monteCloraMethod } from '../../src/peft/monteclora/index.js';
import { adaLoraMethod } from '../../src/peft/adalora/index.js';
import { promptTuningMethod } from '../../src/peft/prompt-tuning/index.js';
import { parseMonteCloraConfig } from '../../src/peft/monteclora/config.js';
import type { EncodedExample } from '../../src/train/fine-tune.js';
import type { Model } from '../../src/models/model.js';
import { adapterConfigFor } from '../../src/peft/target-aliases.js';
import { evaluateClassification } from '../../src/evaluation/classification.js';
import { randomWeightInit } from '../../src/models/init.js';
import { generate } from '../../src/generation/generate.js';
import { scoreContinuations } from '../../src/generation/score.js';
import { EVAL_CONTEXT } from '../../src/models/forward-context.js';
import { padBatch } from '../../src/models/tokenizers/padding.js';
import { causalLmLoss, targetMask } from '../../src/train/loss.js';
import { fineTuneAdapterAndHead, withEnv } from '../helpers.js';
import { encoderPairExamples, tinyEncoder } from '../tiny-encoder.js';
import { LOW_RANK_PRODUCT_INLINE } from '../../src/engine/kernels/webgpu/low-rank-product.js';
import { withKernelCalls } from './dispatches.js';
import { loadPreset } from '../../src/peft/preset.js';
import type { AppliedAdapter } from '../../src/peft/types.js';
import type { TextTokenizer } from '../../src/models/tokenizers/tokenizer.js';

interface Outcome {
  readonly losses: number[];
  readonly gradNorms: number[];
  readonly adapter: number[];
  readonly nll: number;
  readonly accuracy: number;
}

const TEXTS = ['good film', 'bad film', 'great plot', 'awful plot', 'fine acting', 'poor acting', 'nice', 'dull'];

type Method =
  | 'lora'
  | 'lora-inline'
  | 'monteclora-inline'
  | 'dora'
  | 'dora-dropout'
  | 'monteclora'
  | 'monteclora-dirichlet'
  | 'monteclora-variants'
  | 'adalora'
  | 'lora-bert'
  | 'monteclora-bert'
  | 'prompt-tuning-roberta'
  | 'preset:ia3'
  | 'preset:loraplus'
  | 'preset:full'
  | 'preset:prompt-tuning';

/** The MonteCLoRA configurations beside the paper's: exact Dirichlet weights; two outer samples with ε², a random prior. */
const MONTECLORA_VARIANTS: Partial<Record<Method, object>> = {
  monteclora: {},
  'monteclora-inline': { dropout: 0.1 },
  'monteclora-bert': {},
  'monteclora-dirichlet': { mixtureWeights: 'dirichlet' },
  'monteclora-variants': { outerSamples: 2, doubleScale: true, randomDirichletPrior: true },
};

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/**
 * A decoder (builtin:tiny, its tokenizer's texts) or a tiny BERT or RoBERTa (sentence pairs with token types), with a
 * head.
 */
function modelAndExamples(method: Method): { model: Model; examples: EncodedExample[]; tokenizer?: TextTokenizer } {
  if (method.endsWith('-bert')) return { model: tinyEncoder('bert', { seed: 2 }), examples: encoderPairExamples(8) };
  if (method.endsWith('-roberta'))
    return { model: tinyEncoder('roberta', { seed: 2 }), examples: encoderPairExamples(8) };
  const { model, tokenizer } = loadModel('builtin:tiny');
  model.addClassificationHead(2, randomWeightInit(new Rng(3), model.config.initializerRange));
  return { model, tokenizer, examples: TEXTS.map((text, i) => ({ ids: tokenizer.encode(text), label: i % 2 })) };
}

/** The adapter of `method` on `model`: a preset as shipped, or the configuration the method's name gives. */
function applyAdapter(method: Method, model: Model, tokenizer: TextTokenizer | undefined): AppliedAdapter {
  if (method.startsWith('preset:')) {
    const preset = loadPreset(method.slice('preset:'.length));
    return preset.method.apply(model, preset.adapterConfig, new Rng(4), tokenizer);
  }
  // Every linear layer, as the presets do: dozens of gradients in one step (more than a kernel may bind at once). An
  // encoder reads the decoder's module names as its own.
  const targets = adapterConfigFor(model, { targetModules: TARGETS }).targetModules;
  if (MONTECLORA_VARIANTS[method] !== undefined)
    return monteCloraMethod.apply(
      model,
      parseMonteCloraConfig({ r: 4, alpha: 8, targetModules: targets, ...MONTECLORA_VARIANTS[method] }, 'parity'),
      new Rng(4),
    );
  if (method === 'prompt-tuning-roberta')
    return promptTuningMethod.apply(model, { numVirtualTokens: 4, init: 'random' }, new Rng(4));
  if (method === 'adalora')
    return adaLoraMethod.apply(
      model,
      adaLoraMethod.parseConfig({ initR: 4, targetR: 2, alpha: 8, dropout: 0, targetModules: targets }, 'parity'),
      new Rng(4),
    );
  return loraMethod.apply(
    model,
    parseLoraConfig(
      {
        r: 4,
        alpha: 8,
        useDora: method.startsWith('dora'),
        ...(method === 'lora-inline' || method === 'dora-dropout' ? { dropout: 0.1 } : {}),
        targetModules: targets,
      },
      'parity',
    ),
    new Rng(4),
  );
}

async function fineTuneOn(backend: 'wasm' | 'webgpu', method: Method): Promise<Outcome> {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const { model, examples, tokenizer } = modelAndExamples(method);
  const adapter = applyAdapter(method, model, tokenizer);
  try {
    const result = await fineTuneAdapterAndHead(model, adapter, examples, 2);
    const scores = await evaluateClassification(model, examples);
    const variables: Variable[] = adapter.groups.flatMap((group) => [...group.variables]);
    const values = await Promise.all(variables.map((variable) => variable.data()));
    return {
      losses: result.log.map((entry) => entry.loss),
      gradNorms: result.log.map((entry) => entry.grad_norm),
      adapter: values.flatMap((array) => Array.from(array)),
      nll: scores.nll,
      accuracy: scores.accuracy,
    };
  } finally {
    adapter.dispose();
    model.dispose();
    assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the run`);
  }
}

function assertClose(actual: readonly number[], expected: readonly number[], relative: number, label: string): void {
  assert.equal(actual.length, expected.length, label);
  actual.forEach((value, i) => {
    const scale = Math.max(Math.abs(expected[i]!), 1e-3);
    assert.ok(
      Math.abs(value - expected[i]!) / scale <= relative,
      `${label}[${i}]: webgpu ${value}, wasm ${expected[i]}`,
    );
  });
}

/** Runs `body` on webgpu with the narrow products formed inside the layers' products; asserts that they were. */
async function withInlineNarrow<T>(body: () => Promise<T>): Promise<T> {
  const { value, calls } = await withKernelCalls(LOW_RANK_PRODUCT_INLINE, () =>
    withEnv('MCEVAL_WEBGPU_INLINE_NARROW', 'always', body),
  );
  assert.ok(calls > 0, 'no layer formed its narrow products inline');
  return value;
}

for (const method of [
  'lora',
  'lora-inline',
  'monteclora-inline',
  'dora',
  'dora-dropout',
  'monteclora',
  'monteclora-dirichlet',
  'monteclora-variants',
  'adalora',
  'lora-bert',
  'monteclora-bert',
  'prompt-tuning-roberta',
  // The other presets as shipped, on builtin:tiny: IA3, LoRA+ (B at 16× A's learning rate, dropout 0.05), full
  // fine-tuning (every weight, the head in its own group) and prompt tuning (8 virtual tokens).
  'preset:ia3',
  'preset:loraplus',
  'preset:full',
  'preset:prompt-tuning',
] as const) {
  test(`${method}: fine-tuning steps and scoring on webgpu agree with wasm from the same seed`, async () => {
    const reference = await fineTuneOn('wasm', method);
    // -inline: with the presets' kind of dropout, and x·A and s·dy·Bᵀ formed inside the layer's product.
    const candidate = method.endsWith('-inline')
      ? await withInlineNarrow(() => fineTuneOn('webgpu', method))
      : await fineTuneOn('webgpu', method);
    assertClose(candidate.losses, reference.losses, 2e-4, 'loss');
    assertClose(candidate.gradNorms, reference.gradNorms, 2e-4, 'gradient norm');
    // AdamW divides by √v: a weight whose gradient is ~0 moves by up to lr (0.01) per step on either backend from
    // float-level differences, so weights are held to a tenth of one step.
    const worst = Math.max(...candidate.adapter.map((value, i) => Math.abs(value - reference.adapter[i]!)));
    assert.ok(worst <= 1e-3, `adapter values differ by up to ${worst}`);
    assert.ok(Math.abs(candidate.nll - reference.nll) <= 1e-4, `NLL ${candidate.nll} vs ${reference.nll}`);
    assert.equal(candidate.accuracy, reference.accuracy);
  });
}

test('a synchronous read on webgpu fails with one line that names the fix', async () => {
  await initEngine('webgpu');
  // Computed on the device: a tensor made from host values, or small enough for tfjs to compute on the CPU, keeps
  // its values on the host and reads back synchronously.
  const t = tf.tidy(() => tf.matMul(tf.ones([128, 128]), tf.ones([128, 128])));
  try {
    assert.throws(() => t.dataSync(), /WebGPU cannot do in Node .* Use --backend wasm for this run/);
  } finally {
    t.dispose();
  }
});

// The base model, and with a DoRA adapter on every linear layer (its B drawn: DoRA starts it at zero), whose products
// off the tape scale their columns as they write them: the inline and few-rows ones, or, with no narrow product
// formed inline, the fused product after its own.
for (const { dora, inline } of [
  { dora: false, inline: undefined },
  { dora: true, inline: undefined },
  { dora: true, inline: 'never' },
]) {
  const how = dora ? `, DoRA applied${inline === undefined ? '' : `, MCEVAL_WEBGPU_INLINE_NARROW=${inline}`}` : '';
  test(`greedy generation and continuation scoring on webgpu agree with wasm${how}`, async () => {
    const outcome = async (backend: 'wasm' | 'webgpu') => {
      await initEngine(backend);
      const { model, tokenizer } = loadModel('builtin:small');
      const config = parseLoraConfig({ r: 4, alpha: 8, useDora: true, targetModules: TARGETS }, 'p');
      const adapter = dora ? loraMethod.apply(model, config, new Rng(4)) : undefined;
      const rng = new Rng(5);
      adapter?.groups
        .filter((group) => group.name === 'lora_B')
        .flatMap((group) => group.variables)
        .forEach((v) => tf.tidy(() => v.assign(tf.mul(tf.tensor(rng.normalArray(v.size), v.shape), 0.1))));
      try {
        const rows = await generate(
          model,
          tokenizer,
          ['once upon', 'the cat'].map((text) => tokenizer.encode(text)),
          {
            maxNewTokens: 8,
            eosTokenIds: [],
          },
        );
        const scores = await scoreContinuations(model, tokenizer, [
          { context: 'The sky is', continuation: ' blue' },
          { context: 'The sky is', continuation: ' green' },
        ]);
        return { ids: rows.map((row) => row.ids), logprobs: scores.map((score) => score.logprob) };
      } finally {
        adapter?.dispose();
        model.dispose();
      }
    };
    const reference = await outcome('wasm');
    const candidate = await withEnv('MCEVAL_WEBGPU_INLINE_NARROW', inline, () => outcome('webgpu'));
    assert.deepEqual(candidate.ids, reference.ids);
    assertClose(candidate.logprobs, reference.logprobs, 1e-4, 'continuation log-likelihood');
  });
}

// The head whole, in chunks of 3 rows (MCEVAL_HEAD_CHUNK_ELEMENTS), and in chunks with the embedding trained too.
for (const { chunked, trainableHead } of [
  { chunked: false, trainableHead: false },
  { chunked: true, trainableHead: false },
  { chunked: true, trainableHead: true },
]) {
  const how = `${chunked ? 'in chunks' : 'whole'}${trainableHead ? ', embedding trained' : ''}`;
  test(`the causal-LM loss (head at the counted targets, tied, ${how}) and its gradients on webgpu agree with wasm`, async () => {
    const outcome = async (backend: 'wasm' | 'webgpu') => {
      await initEngine(backend);
      const { model, tokenizer } = loadModel('builtin:tiny');
      const adapter = loraMethod.apply(
        model,
        parseLoraConfig({ r: 4, alpha: 8, targetModules: TARGETS }, 'p'),
        new Rng(4),
      );
      // B drawn too (LoRA starts it at zero), so that every adapter weight has a gradient.
      const rng = new Rng(5);
      const parameters = adapter.groups.flatMap((group) => group.variables);
      parameters.forEach((v) => tf.tidy(() => v.assign(tf.mul(tf.tensor(rng.normalArray(v.size), v.shape), 0.1))));
      if (trainableHead) {
        model.embedTokens.trainable = true;
        parameters.push(model.embedTokens);
      }
      const rows = ['Q: 2+2? A: 4', 'Q: say hi. A: hello there'].map((text) => ({
        ids: tokenizer.encode(text),
        targetStart: 9,
      }));
      const batch = padBatch(
        rows.map((row) => row.ids),
        model.config.padTokenId,
      );
      // Chunks of 3 rows where asked for; unset, one chunk.
      const chunkElements = chunked ? String(3 * model.config.vocabSize) : undefined;
      try {
        const { value, grads } = await withEnv('MCEVAL_HEAD_CHUNK_ELEMENTS', chunkElements, () =>
          tf.variableGrads(() => causalLmLoss(model, batch, EVAL_CONTEXT, targetMask(batch, rows)), parameters),
        );
        const loss = (await value.data())[0]!;
        const gradients = await Promise.all(parameters.map(async (p) => Array.from(await grads[p.name]!.data())));
        value.dispose();
        Object.values(grads).forEach((g) => g.dispose());
        return { loss, gradients: gradients.flat() };
      } finally {
        adapter.dispose();
        model.dispose();
      }
    };
    const reference = await outcome('wasm');
    const candidate = await outcome('webgpu');
    assertClose([candidate.loss], [reference.loss], 1e-5, 'loss');
    const scale = Math.max(...reference.gradients.map(Math.abs));
    const worst = Math.max(...candidate.gradients.map((g, i) => Math.abs(g - reference.gradients[i]!)));
    assert.ok(worst < 1e-4 * scale, `gradients differ by ${worst} (largest ${scale})`);
  });
}
