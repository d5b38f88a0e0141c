/**
 * Saving a run's trained adapter on WebGPU, where tensors cannot be read synchronously: every preset that saves
 * (`saveTrainedAdapter`, as a sweep calls it) writes on webgpu the same files, byte for byte, as on wasm from the same
 * seeds — AdaLoRA with a pruned rank pattern, whose kept triplets are sliced out on the host, and MonteCLoRA with frozen
 * priors and a random Dirichlet prior, which no group trains.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { randomWeightInit } from '../../src/models/init.js';
import { loadPreset, type AdapterPreset } from '../../src/peft/preset.js';
import { savedVariables } from '../../src/peft/types.js';
import { saveTrainedAdapter } from '../../src/peft/save-trained.js';
import { adaLoraLayers } from '../../src/peft/adalora/peft-format.js';

/** The files saveTrainedAdapter writes for `preset` on `backend`, by name. */
async function savedFiles(backend: 'wasm' | 'webgpu', preset: AdapterPreset): Promise<Map<string, Buffer>> {
  await initEngine(backend);
  const { model, tokenizer } = loadModel('builtin:tiny');
  model.addClassificationHead(2, randomWeightInit(new Rng(3), model.config.initializerRange));
  const adapter = preset.method.apply(model, preset.adapterConfig, new Rng(4), tokenizer);
  // Values a run could have trained to (LoRA's B starts at zero), and a rank pattern AdaLoRA could have pruned to.
  const rng = new Rng(5);
  const trained = adapter.groups.flatMap((group) => group.variables);
  trained.forEach((v) => tf.tidy(() => v.assign(tf.mul(tf.tensor(rng.normalArray(v.size), v.shape), 0.1))));
  adaLoraLayers(model).forEach(({ layer }, i) => {
    layer.keptTriplets = Array.from({ length: layer.rank }, (_, r) => (r + i) % 3 !== 0);
  });
  // A training forward and the adapter's loss terms, as a run's steps: the variables they read are then on the GPU only
  // (tfjs-webgpu drops the host copy once it uploads a tensor).
  const batch = { batchSize: 1, length: 4, ids: Int32Array.from([1, 2, 3, 4]), mask: new Int32Array(4).fill(1) };
  tf.tidy(() => [model.classify(batch, { training: true, rng: new Rng(6) }), adapter.regularizer?.() ?? tf.scalar(0)]);
  const dir = mkdtempSync(join(tmpdir(), `mceval-save-${backend}-`));
  try {
    const head = { name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 };
    await saveTrainedAdapter(model, preset, savedVariables(adapter, [head]), dir);
    return new Map(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name))]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    adapter.dispose();
    model.dispose();
  }
}

const monteclora = loadPreset('monteclora');
const presets: [string, AdapterPreset][] = [
  ...['lora', 'dora', 'loraplus', 'monteclora', 'ia3', 'prompt-tuning', 'adalora', 'full'].map(
    (name) => [name, loadPreset(name)] as [string, AdapterPreset],
  ),
  [
    'monteclora (frozen priors, random Dirichlet prior)',
    {
      ...monteclora,
      adapterConfig: { ...(monteclora.adapterConfig as object), freezePriors: true, randomDirichletPrior: true },
    },
  ],
];

for (const [label, preset] of presets)
  test(`${label}: the trained adapter saved on webgpu equals the one saved on wasm`, async () => {
    const reference = await savedFiles('wasm', preset);
    const candidate = await savedFiles('webgpu', preset);
    assert.ok(reference.size > 0, 'something is saved');
    assert.deepEqual([...candidate.keys()].sort(), [...reference.keys()].sort());
    for (const [name, bytes] of reference) assert.ok(candidate.get(name)!.equals(bytes), `${name} differs`);
  });
