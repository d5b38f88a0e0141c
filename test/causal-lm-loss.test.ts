import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { BUILTIN_MODELS } from '../src/models/builtin.js';
import { randomWeightInit } from '../src/models/init.js';
import { LlamaModel } from '../src/models/llama/model.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { padBatch } from '../src/models/tokenizers/padding.js';
import { loraMethod } from '../src/peft/lora/index.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { causalLmLoss, targetMask } from '../src/train/loss.js';
import { logSoftmax } from '../src/metrics/log-softmax.js';
import { maxAbsDifference, onEachBackend } from './helpers.js';

/** builtin:tiny's architecture with its head tied (as shipped) or a separate lm_head, LoRA on q_proj and lm_head. */
function tinyModel(tied: boolean) {
  const config = { ...BUILTIN_MODELS['tiny']!.config, tieWordEmbeddings: tied };
  const model = new LlamaModel(config, randomWeightInit(new Rng(4), 0.3));
  const adapter = loraMethod.apply(
    model,
    parseLoraConfig({ r: 4, alpha: 8, dropout: 0, targetModules: tied ? ['q_proj'] : ['q_proj', 'lm_head'] }, 't'),
    new Rng(5),
  );
  // LoRA's B starts at zero, which would leave the adapter out of the logits: give every adapter weight random values.
  const rng = new Rng(6);
  const parameters = adapter.groups.flatMap((group) => group.variables);
  parameters.forEach((v) => tf.tidy(() => v.assign(tf.mul(tf.tensor(rng.normalArray(v.size), v.shape), 0.1))));
  return { model, adapter, parameters };
}

// Right-padded rows of different lengths; the targets start after a two-token "prompt" (labels −100 before it).
const rows = [
  { ids: [1, 40, 41, 42, 43, 44, 45], targetStart: 2 },
  { ids: [1, 50, 51, 52], targetStart: 2 },
  { ids: [1, 60, 61, 62, 63, 64], targetStart: 2 },
];

onEachBackend(() => {
  for (const tied of [true, false]) {
    const head = tied ? 'tied head' : 'own lm_head';
    test(`causalLmLoss: the head at counted positions only, equal to the every-position loss (${head})`, () => {
      const { model, adapter, parameters } = tinyModel(tied);
      const batch = padBatch(
        rows.map((row) => row.ids),
        0,
      );
      const mask = targetMask(batch, rows);
      const V = model.config.vocabSize;
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        // The reference: every position's logits, the counted terms' log-probabilities in float64 on the host.
        const every = model.lmLogits(batch, EVAL_CONTEXT).dataSync();
        for (const targets of [undefined, mask]) {
          let total = 0;
          let count = 0;
          const counted: number[] = [];
          rows.forEach((row, b) => {
            for (let t = 0; t + 1 < row.ids.length; t++) {
              if (targets !== undefined && targets[b * batch.length + t + 1] !== 1) continue;
              const at = b * batch.length + t;
              total -= logSoftmax(every.subarray(at * V, (at + 1) * V))[row.ids[t + 1]!]!;
              count += 1;
              counted.push(at);
            }
          });
          const loss = causalLmLoss(model, batch, EVAL_CONTEXT, targets).dataSync()[0]!;
          assert.ok(Math.abs(loss - total / count) < 1e-5, `loss ${loss} vs ${total / count}`);
          // The head on hiddenAt's rows gives those rows of the full logits.
          const picked = model.headLogits(model.hiddenAt(batch, counted, EVAL_CONTEXT), EVAL_CONTEXT).dataSync();
          const expected = counted.flatMap((at) => Array.from(every.subarray(at * V, (at + 1) * V)));
          assert.ok(maxAbsDifference(picked, expected) < 1e-5);
          // Gradients equal those of the every-position loss as tfjs differentiates it (one-hot · log-softmax).
          const oneHot = tf.oneHot(
            tf.tensor1d(
              counted.map((at) => batch.ids[at + 1]!),
              'int32',
            ),
            V,
          );
          const fullLoss = () => {
            const logits = tf.reshape(model.lmLogits(batch, EVAL_CONTEXT), [-1, V]);
            const gathered = tf.gather(logits, tf.tensor1d(counted, 'int32'));
            return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(gathered)), 1))) as tf.Scalar;
          };
          const expectedGrads = tf.variableGrads(fullLoss, parameters).grads;
          const grads = tf.variableGrads(() => causalLmLoss(model, batch, EVAL_CONTEXT, targets), parameters).grads;
          for (const p of parameters) {
            const g = (grads[p.name] as Tensor).dataSync();
            const scale = Math.max(...Array.from((expectedGrads[p.name] as Tensor).dataSync(), Math.abs));
            assert.ok(scale > 0, `${p.name} has a gradient`);
            assert.ok(maxAbsDifference(g, (expectedGrads[p.name] as Tensor).dataSync()) < 1e-4 * scale, p.name);
          }
        }
      });
      assert.equal(tf.memory().numTensors, before);
      adapter.dispose();
      model.dispose();
    });
  }
});
