/** IA3 adapters saved by peft 0.21 (../shared/models/golden/peft-ia3, on llama-tiny) loaded into mceval. */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { loadLlamaFolder } from '../src/models/hf/load-folder.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { loadIa3Adapter, mergeIa3 } from '../src/peft/ia3/peft-format.js';
import { Ia3Layer } from '../src/peft/ia3/layer.js';
import { causalLmLoss } from '../src/train/loss.js';
import { assertRealPositionLogits, goldenBatch, readJson, sharedPath } from './shared-fixtures.js';
import { useTestBackend } from './helpers.js';

before(useTestBackend);

const base = sharedPath('models', 'golden', 'llama-tiny');
const adapterDir = sharedPath('models', 'golden', 'peft-ia3');

test(
  'a PEFT IA3 adapter reproduces the recorded logits, gradients and merged logits',
  { skip: base.skip || adapterDir.skip },
  () => {
    const model = loadLlamaFolder(base.path);
    const { adapter } = loadIa3Adapter(model, adapterDir.path);
    const golden = readJson<{ input_ids: number[][]; attention_mask: number[][]; logits: number[][][] }>(
      join(adapterDir.path, 'expected_outputs.json'),
    );
    const batch = goldenBatch(golden);
    const logits = tf.tidy(() => model.lmLogits(batch, EVAL_CONTEXT).arraySync() as number[][][]);
    assertRealPositionLogits(logits, golden.logits, golden.attention_mask);

    const grads = readJson<{ loss: number; grads: Record<string, number[][]> }>(
      join(adapterDir.path, 'expected_grads.json'),
    );
    const row0 = { batchSize: 1, length: 8, ids: batch.ids.subarray(0, 8), mask: new Int32Array(8).fill(1) };
    const variables = adapter.groups.flatMap((g) => g.variables);
    const { value, grads: computed } = tf.variableGrads(() => causalLmLoss(model, row0, EVAL_CONTEXT), variables);
    assert.ok(Math.abs(value.dataSync()[0]! - grads.loss) < 1e-4);
    const ours = new Map(
      model
        .linears()
        .filter((linear) => linear.adapter instanceof Ia3Layer)
        .map((linear) => [
          `base_model.model.${linear.name}.ia3_l.default`,
          Array.from(computed[(linear.adapter as Ia3Layer).scale.name]!.dataSync()),
        ]),
    );
    assert.equal(Object.keys(grads.grads).length, 6);
    for (const [name, expected] of Object.entries(grads.grads)) {
      const actual = ours.get(name);
      assert.ok(actual !== undefined, `no gradient for ${name}`);
      expected.flat().forEach((v, i) => assert.ok(Math.abs(actual[i]! - v) < 1e-4, `${name} ${i}`));
    }

    const merged = readJson<{ logits_row0_merged: number[][][] }>(join(adapterDir.path, 'expected_merged.json'));
    mergeIa3(model);
    adapter.dispose();
    const mergedLogits = tf.tidy(() => model.lmLogits(row0, EVAL_CONTEXT).arraySync() as number[][][]);
    mergedLogits[0]!.forEach((row, t) =>
      row.forEach((v, k) => assert.ok(Math.abs(v - merged.logits_row0_merged[0]![t]![k]!) < 1e-4)),
    );
    model.dispose();
  },
);
