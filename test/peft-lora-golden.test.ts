/** LoRA adapters saved by peft 0.21 (../shared/models/golden/peft-lora, on llama-tiny) loaded into mceval, and back. */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { loadLlamaFolder } from '../src/models/hf/load-folder.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import {
  loadLoraAdapter,
  loraLayers,
  loraStateDict,
  mergeLora,
  saveLoraAdapter,
} from '../src/peft/lora/peft-format.js';
import { DoraLayer } from '../src/peft/lora/dora.js';
import { causalLmLoss } from '../src/train/loss.js';
import { assertRealPositionLogits, goldenBatch, readJson, sharedPath } from './shared-fixtures.js';
import { useTestBackend } from './helpers.js';

before(useTestBackend);

const base = sharedPath('models', 'golden', 'llama-tiny');
const adapterDir = sharedPath('models', 'golden', 'peft-lora');
const skip = base.skip || adapterDir.skip;

interface Outputs {
  input_ids: number[][];
  attention_mask: number[][];
  logits: number[][][];
}

for (const name of ['peft-lora', 'peft-dora']) {
  const folder = sharedPath('models', 'golden', name);

  test(
    `${name}: the adapter reproduces the recorded logits, gradients and merged logits`,
    { skip: base.skip || folder.skip },
    () => {
      const model = loadLlamaFolder(base.path);
      const { adapter } = loadLoraAdapter(model, folder.path);
      const golden = readJson<Outputs>(join(folder.path, 'expected_outputs.json'));
      const batch = goldenBatch(golden);
      assertRealPositionLogits(
        tf.tidy(() => model.lmLogits(batch, EVAL_CONTEXT).arraySync() as number[][][]),
        golden.logits,
        golden.attention_mask,
      );

      // Gradients of the LM loss on row 0 with respect to the adapter's tensors (PEFT names, PEFT layouts).
      const grads = readJson<{ loss: number; grads: Record<string, number[][] | number[]> }>(
        join(folder.path, 'expected_grads.json'),
      );
      const row0 = { batchSize: 1, length: 8, ids: batch.ids.subarray(0, 8), mask: new Int32Array(8).fill(1) };
      const variables = adapter.groups.flatMap((g) => g.variables);
      const { value, grads: computed } = tf.variableGrads(() => causalLmLoss(model, row0, EVAL_CONTEXT), variables);
      assert.ok(Math.abs(value.dataSync()[0]! - grads.loss) < 1e-4, `loss ${value.dataSync()[0]} vs ${grads.loss}`);
      const ours = new Map<string, number[]>();
      for (const { linear, layer } of loraLayers(model)) {
        const key = `base_model.model.${linear.name}`;
        const flatT = (v: tf.Variable) => Array.from(tf.transpose(computed[v.name]!).dataSync());
        ours.set(`${key}.lora_A.default.weight`, flatT(layer.loraA));
        ours.set(`${key}.lora_B.default.weight`, flatT(layer.loraB));
        if (layer instanceof DoraLayer)
          ours.set(
            `${key}.lora_magnitude_vector.default.weight`,
            Array.from(computed[layer.magnitude.name]!.dataSync()),
          );
      }
      // The recordings hold six gradients each; every recorded one must match.
      assert.ok(Object.keys(grads.grads).length >= 6);
      for (const [key, expected] of Object.entries(grads.grads)) {
        const actual = ours.get(key);
        assert.ok(actual !== undefined, `no gradient for ${key}`);
        (expected.flat() as number[]).forEach((v, i) =>
          assert.ok(Math.abs(actual[i]! - v) < 1e-4, `${key} ${i}: ${actual[i]} vs ${v}`),
        );
      }

      // merge_and_unload: the merged base weights alone give the same logits.
      const merged = readJson<{ logits_row0_merged: number[][][] }>(join(folder.path, 'expected_merged.json'));
      mergeLora(model);
      adapter.dispose();
      const mergedLogits = tf.tidy(() => model.lmLogits(row0, EVAL_CONTEXT).arraySync() as number[][][]);
      assertRealPositionLogits(mergedLogits, merged.logits_row0_merged, [[1, 1, 1, 1, 1, 1, 1, 1]]);
      model.dispose();
    },
  );
}

test('save → load round trip is lossless, and merge followed by unmerge restores the base weights', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-peft-'));
  try {
    const model = loadLlamaFolder(base.path);
    const { adapter, config } = loadLoraAdapter(model, adapterDir.path);
    saveLoraAdapter(model, config, dir);
    const saved = loraStateDict(model);
    const config2 = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(config2.peft_type, 'LORA');
    assert.equal(config2.lora_alpha, 8);
    adapter.dispose();
    const again = loadLoraAdapter(model, dir);
    assert.deepEqual(loraStateDict(model), saved);
    const weight = model.layers[0]!.q.weight.dataSync().slice();
    mergeLora(model);
    assert.ok(model.layers[0]!.q.weight.dataSync().some((v, i) => v !== weight[i]));
    mergeLora(model, -1);
    model.layers[0]!.q.weight.dataSync().forEach((v, i) => assert.ok(Math.abs(v - weight[i]!) < 1e-6));
    again.adapter.dispose();
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test(
  'a DoRA adapter survives save → load with its magnitude vector',
  { skip: base.skip || sharedPath('models', 'golden', 'peft-dora').skip },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'mceval-dora-'));
    try {
      const model = loadLlamaFolder(base.path);
      const { adapter, config } = loadLoraAdapter(model, sharedPath('models', 'golden', 'peft-dora').path);
      assert.equal(config.useDora, true);
      saveLoraAdapter(model, config, dir);
      const saved = loraStateDict(model);
      assert.ok(Object.keys(saved).some((key) => key.endsWith('.lora_magnitude_vector')));
      adapter.dispose();
      const again = loadLoraAdapter(model, dir);
      assert.deepEqual(loraStateDict(model), saved);
      assert.equal(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')).use_dora, true);
      again.adapter.dispose();
      model.dispose();
    } finally {
      rmSync(dir, { recursive: true });
    }
  },
);
