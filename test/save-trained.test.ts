/**
 * saveTrainedAdapter with a classification head, for every method that saves: each adapter folder is a PEFT sequence
 * classifier's (task_type SEQ_CLS, the head in modules_to_save, its weight under PEFT's key beside the adapter's
 * tensors: `base_model.model.score.weight` for a tuner, `base_model.score.weight` for prompt learning), and
 * task_head.safetensors holds the same weight under transformers' name; full fine-tuning of a decoder saves the model
 * folder and task_head.safetensors, no adapter files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { SafetensorsFile } from '../src/models/safetensors.js';
import { loadPreset } from '../src/peft/preset.js';
import { savedVariables } from '../src/peft/types.js';
import { saveTrainedAdapter } from '../src/peft/save-trained.js';
import { useTestBackend } from './helpers.js';

await useTestBackend();

function read(path: string, key: string): number[] {
  const file = SafetensorsFile.open(path);
  try {
    assert.ok(file.tensors.has(key), `${path} has no "${key}": ${[...file.tensors.keys()].join(', ')}`);
    return Array.from(file.read(key).values);
  } finally {
    file.close();
  }
}

for (const [method, headKey] of [
  ['lora', 'base_model.model.score.weight'],
  ['monteclora', 'base_model.model.score.weight'],
  ['ia3', 'base_model.model.score.weight'],
  ['adalora', 'base_model.model.score.weight'],
  ['prompt-tuning', 'base_model.score.weight'],
  ['full', undefined],
] as const) {
  test(`${method} with a classification head saves it as PEFT's sequence classifier does`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mceval-save-trained-'));
    const before = tf.memory().numTensors;
    const { model, tokenizer } = loadModel('builtin:tiny');
    try {
      const preset = loadPreset(method);
      const head = model.addClassificationHead(3);
      const adapter = preset.method.apply(model, preset.adapterConfig, new Rng(1), tokenizer);
      const headGroup = { name: 'head', variables: head.variables(), learningRateMultiplier: 1 };
      await saveTrainedAdapter(model, preset, savedVariables(adapter, [headGroup]), dir);
      // transformers' score.weight is [labels, hidden]: the head's [hidden, labels] transposed.
      const transposed = tf.transpose(head.variables()[0]!);
      const expected = Array.from(transposed.dataSync());
      transposed.dispose();
      assert.deepEqual(read(join(dir, 'task_head.safetensors'), 'score.weight'), expected);
      if (headKey === undefined) {
        assert.ok(existsSync(join(dir, 'model.safetensors')));
        assert.ok(!existsSync(join(dir, 'adapter_config.json')));
      } else {
        assert.deepEqual(read(join(dir, 'adapter_model.safetensors'), headKey), expected);
        const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
        assert.equal(config['task_type'], 'SEQ_CLS');
        assert.deepEqual(config['modules_to_save'], ['score']);
      }
      adapter.dispose();
    } finally {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
  });
}
