/**
 * mceval → PEFT: an adapter saved by peft 0.21 (../shared/models/golden/peft-*), loaded into mceval and saved again,
 * has exactly PEFT's tensor names, shapes and values, and an adapter_config.json whose every key is one PEFT's own
 * config has, with the same values where both set them — what PEFT's loader needs to read it back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlamaFolder } from '../src/models/hf/load-folder.js';
import { SafetensorsFile } from '../src/models/safetensors.js';
import type { LlamaModel } from '../src/models/llama/model.js';
import type { AppliedAdapter } from '../src/peft/types.js';
import { loadLoraAdapter, saveLoraAdapter } from '../src/peft/lora/peft-format.js';
import { loadIa3Adapter, saveIa3Adapter } from '../src/peft/ia3/peft-format.js';
import { loadPromptTuningAdapter, savePromptTuningAdapter } from '../src/peft/prompt-tuning/peft-format.js';
import { sharedPath } from './shared-fixtures.js';
import { useTestBackend } from './helpers.js';

await useTestBackend();

const base = sharedPath('models', 'golden', 'llama-tiny');

function tensors(path: string): Map<string, { shape: readonly number[]; values: Float32Array }> {
  const file = SafetensorsFile.open(path);
  try {
    return new Map([...file.tensors.keys()].map((name) => [name, file.read(name)]));
  } finally {
    file.close();
  }
}

const readConfig = (dir: string) => JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));

function resave(
  name: string,
  reload: (model: LlamaModel, dir: string) => { adapter: AppliedAdapter; save: (dir: string) => void },
): void {
  const golden = sharedPath('models', 'golden', name);
  test(`${name}: loaded and saved again, it is PEFT's layout`, { skip: base.skip || golden.skip }, () => {
    const model = loadLlamaFolder(base.path);
    const out = mkdtempSync(join(tmpdir(), 'mceval-peft-layout-'));
    try {
      const { adapter, save } = reload(model, golden.path);
      save(out);
      adapter.dispose();
      const expected = tensors(join(golden.path, 'adapter_model.safetensors'));
      const actual = tensors(join(out, 'adapter_model.safetensors'));
      assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
      for (const [key, tensor] of expected) {
        assert.deepEqual(actual.get(key)!.shape, tensor.shape, key);
        assert.deepEqual(Array.from(actual.get(key)!.values), Array.from(tensor.values), key);
      }
      const peft = readConfig(golden.path);
      const ours = readConfig(out);
      for (const [key, value] of Object.entries(ours)) {
        assert.ok(key in peft, `"${key}" is not a field of PEFT's config`);
        if (key === 'target_modules' || key === 'feedforward_modules') {
          assert.deepEqual([...(value as string[])].sort(), [...(peft[key] as string[])].sort(), key);
        } else if (key !== 'base_model_name_or_path' && peft[key] !== null) {
          assert.deepEqual(value, peft[key], key);
        }
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
      model.dispose();
    }
  });
}

resave('peft-lora', (model, dir) => {
  const { adapter, config } = loadLoraAdapter(model, dir);
  return { adapter, save: (out) => saveLoraAdapter(model, config, out) };
});
resave('peft-dora', (model, dir) => {
  const { adapter, config } = loadLoraAdapter(model, dir);
  return { adapter, save: (out) => saveLoraAdapter(model, config, out) };
});
resave('peft-ia3', (model, dir) => {
  const { adapter, config } = loadIa3Adapter(model, dir);
  return { adapter, save: (out) => saveIa3Adapter(model, config, out) };
});
resave('peft-prompt-tuning', (model, dir) => {
  const { adapter, config } = loadPromptTuningAdapter(model, dir);
  return { adapter, save: (out) => savePromptTuningAdapter(model, config, out) };
});
