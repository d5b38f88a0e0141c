/**
 * bench/causal-lm-loss: what running the LM head at the counted target positions only (`causalLmLoss` through
 * `model.nextTokenCrossEntropy`, in chunks of rows when they are many) saves in a causal-LM LoRA fine-tuning step,
 * against running it at every position and gathering the targets' rows afterwards (`lmLogits`: where mceval ran it
 * before, and transformers without `logits_to_keep`). Both sides use today's head and cross-entropy ops, so the
 * difference is the head's product and its gradient at the positions no target reads (docs/running.md compares with
 * the code before those ops too).
 *
 * A Llama of hidden 256, 2 layers, tied embeddings, with vocabularies of 259 (byte-level), 32,000 (Llama 2) and
 * 128,256 (Llama 3); targets on every token (language modelling) or on each row's last `--answer` tokens (a prompt
 * masked out, as instruction fine-tuning does). Per case: ms per step (middle of `--steps`, after one warm-up), the
 * tensor bytes alive at once during a step (tf.profile's peakBytes) and the loss of the first step on each side.
 * Prints one JSON document.
 *
 * Usage: node dist/bench/causal-lm-loss.js [--backend wasm] [--batch 2] [--length 256] [--answer 16] [--steps 3]
 *          [--vocabs 259,32000,128256] [--heads counted,every]
 */
import { tf, type Scalar } from '../src/engine/tf.js';
import { initEngine, type BackendRequest } from '../src/engine/backends.js';
import type { LlamaModel } from '../src/models/llama/model.js';
import type { ForwardContext } from '../src/models/forward-context.js';
import type { PaddedBatch } from '../src/models/tokenizers/padding.js';
import { loraMethod } from '../src/peft/lora/index.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { classificationLoss, countedTargets } from '../src/train/loss.js';
import { largeVocabularyModel } from './large-vocabulary-model.js';
import { argument, middleTime } from './options.js';
import { causalLmStep } from '../src/train/synthetic-step.js';

const LORA = parseLoraConfig(
  { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
  'bench',
);

/** The same loss with the head at every position, its counted rows gathered from the [batch · length, vocab] logits. */
function everyPositionLoss(model: LlamaModel, batch: PaddedBatch, context: ForwardContext, targets?: Int32Array) {
  const { rows, targets: next } = countedTargets(batch.batchSize, batch.length, batch.ids, batch.mask, targets);
  const logits = tf.reshape(model.lmLogits(batch, context), [-1, model.config.vocabSize]);
  return classificationLoss(tf.gather(logits, tf.tensor1d(rows, 'int32')) as tf.Tensor2D, next) as Scalar;
}

async function measure(vocabSize: number, answer: number | undefined, head: 'counted' | 'every') {
  const model = largeVocabularyModel(vocabSize);
  const batch = Number(argument('batch', '2'));
  const length = Number(argument('length', '256'));
  const run = causalLmStep(model, loraMethod, LORA, {
    batch,
    length,
    seed: 9,
    answer,
    ...(head === 'every' ? { loss: everyPositionLoss } : {}),
  });
  const firstLoss = await run.step();
  let stepResult = 0;
  const profile = await tf.profile(async () => {
    stepResult = await run.step();
  });
  const times: number[] = [];
  for (let i = 0; i < Number(argument('steps', '3')); i++) {
    const started = performance.now();
    await run.step();
    times.push(performance.now() - started);
  }
  run.dispose();
  model.dispose();
  return {
    vocabSize,
    targets: answer === undefined ? 'every token' : `last ${answer} of each row`,
    head,
    batch,
    length,
    msPerStep: middleTime(times),
    tensorPeakBytes: profile.peakBytes,
    firstLoss,
    secondLoss: stepResult,
  };
}

await initEngine(argument('backend', 'wasm') as BackendRequest);
const results = [];
const answer = Number(argument('answer', '16'));
for (const vocabSize of argument('vocabs', '259,32000,128256').split(',').map(Number))
  for (const targets of [undefined, answer])
    for (const head of argument('heads', 'counted,every').split(',') as ('counted' | 'every')[])
      results.push(await measure(vocabSize, targets, head));
console.log(JSON.stringify({ backend: tf.getBackend(), node: process.version, results }, null, 2));
