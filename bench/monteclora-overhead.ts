/**
 * bench/monteclora-overhead: the cost of MonteCLoRA over LoRA for the same model, rank and targets — step-time ratio
 * and peak-memory ratio (peak tfjs bytes during a training step, which on wasm is the heap the step needs) — on
 * builtin:tiny and builtin:small (hidden 256, 4 layers). Prints JSON. The paper reports 1.23–1.78× time and
 * 1.06–1.25× memory.
 *
 * Usage: bench/monteclora-overhead [--backend wasm|cpu] [--steps N]
 */
import { tf } from '../src/engine/tf.js';
import { initEngine, type BackendRequest } from '../src/engine/backends.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { padBatch } from '../src/models/tokenizers/padding.js';
import { loadPreset } from '../src/peft/preset.js';
import { AdamW } from '../src/engine/train/adamw.js';
import { classificationLoss } from '../src/engine/train/loss.js';

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1]! : fallback;
}

async function measure(modelSpec: string, presetName: string, steps: number) {
  const { model, tokenizer } = loadModel(modelSpec);
  model.addClassificationHead(2);
  const preset = loadPreset(presetName);
  const adapter = preset.method.apply(model, preset.adapterConfig, new Rng(1));
  const groups = [...adapter.groups, { name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 }];
  const optimizer = new AdamW(groups);
  const text = 'the plot was not very dull, but the ending felt truly wonderful and moving';
  const batch = padBatch(
    Array.from({ length: 16 }, () => tokenizer.encode(text)),
    tokenizer.padId,
  );
  const labels = Array.from({ length: 16 }, (_, i) => i % 2);
  const rng = new Rng(2);
  const step = () => {
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const task = classificationLoss(model.classify(batch, { training: true, rng }), labels);
        const extra = adapter.regularizer?.();
        return extra === undefined ? task : (tf.add(task, extra) as tf.Scalar);
      }, optimizer.parameters);
      optimizer.apply(
        optimizer.parameters.map((p) => grads[p.name] ?? tf.zerosLike(p)),
        1e-3,
      );
      return value;
    });
    loss.dataSync();
    loss.dispose();
  };
  step();
  step();
  const profile = await tf.profile(() => step());
  const started = performance.now();
  for (let i = 0; i < steps; i++) step();
  const msPerStep = (performance.now() - started) / steps;
  optimizer.dispose();
  adapter.dispose();
  model.dispose();
  return { msPerStep, peakBytes: profile.peakBytes, kernels: profile.kernels.length };
}

const backend = argument('backend', 'wasm') as BackendRequest;
await initEngine(backend);
const steps = Number(argument('steps', '20'));
const results = [];
for (const model of ['builtin:tiny', 'builtin:small']) {
  const n = model === 'builtin:small' ? Math.max(3, Math.floor(steps / 4)) : steps;
  const lora = await measure(model, 'lora', n);
  const monteclora = await measure(model, 'monteclora', n);
  results.push({
    model,
    steps: n,
    lora,
    monteclora,
    timeRatio: monteclora.msPerStep / lora.msPerStep,
    memoryRatio: monteclora.peakBytes / lora.peakBytes,
    kernelRatio: monteclora.kernels / lora.kernels,
  });
}
console.log(JSON.stringify({ backend, node: process.version, targets: { time: 1.1, memory: 1.05 }, results }, null, 2));
