/** A prompt-tuning adapter saved by peft 0.21 (../shared/models/golden/peft-prompt-tuning, on llama-tiny). */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf, type Tensor } from '../src/engine/tf.js';
import { loadLlamaFolder } from '../src/models/hf/load-folder.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { positionIds } from '../src/models/tokenizers/padding.js';
import { loadPromptTuningAdapter } from '../src/peft/prompt-tuning/peft-format.js';
import { assertRealPositionLogits, goldenBatch, readJson, sharedPath } from './shared-fixtures.js';
import { useTestBackend } from './helpers.js';

before(useTestBackend);

const base = sharedPath('models', 'golden', 'llama-tiny');
const folder = sharedPath('models', 'golden', 'peft-prompt-tuning');

test(
  'a PEFT soft prompt reproduces the recorded logits of the real positions and the gradient of the prompt',
  { skip: base.skip || folder.skip },
  () => {
    const model = loadLlamaFolder(base.path);
    const { adapter, config } = loadPromptTuningAdapter(model, folder.path);
    const golden = readJson<{ input_ids: number[][]; attention_mask: number[][]; logits: number[][][] }>(
      join(folder.path, 'expected_outputs.json'),
    );
    const batch = goldenBatch(golden);
    const logits = tf.tidy(() => model.lmLogits(batch, EVAL_CONTEXT).arraySync() as number[][][]);
    assertRealPositionLogits(logits, golden.logits, golden.attention_mask);

    // transformers' loss with labels = [-100]·P + ids: the last virtual position predicts the first real token.
    const grads = readJson<{ loss: number; grads: Record<string, number[][]> }>(
      join(folder.path, 'expected_grads.json'),
    );
    const ids = batch.ids.subarray(0, 8);
    const row0 = {
      batchSize: 1,
      length: 8,
      ids,
      positions: positionIds({ batchSize: 1, length: 8, ids, mask: new Int32Array(8).fill(1) }),
      keyMask: new Int32Array(8).fill(1),
    };
    const P = config.numVirtualTokens;
    const { value, grads: computed } = tf.variableGrads(() => {
      const hidden = model.decode(row0, EVAL_CONTEXT, { keepPrompt: true }).hidden;
      const all = tf.reshape(model.headLogits(hidden, EVAL_CONTEXT), [P + 8, -1]);
      const predictions = tf.slice(all, [P - 1, 0], [8, -1]);
      const oneHot = tf.oneHot(tf.tensor1d(Array.from(ids), 'int32'), all.shape[1]!);
      return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(predictions)), 1))) as tf.Scalar;
    }, [model.promptEmbeddings!]);
    assert.ok(Math.abs(value.dataSync()[0]! - grads.loss) < 1e-4, `loss ${value.dataSync()[0]} vs ${grads.loss}`);
    const expected = grads.grads['prompt_encoder.default.embedding.weight']!;
    const actual = (computed[model.promptEmbeddings!.name] as Tensor).arraySync() as number[][];
    expected.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(actual[i]![j]! - v) < 1e-4, `${i},${j}`)));
    adapter.dispose();
    assert.equal(model.promptEmbeddings, undefined);
    model.dispose();
  },
);
