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
import { loadPreset } from '../src/peft/preset.js';
import { benchTrainingStep } from './training-step.js';

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1]! : fallback;
}

async function measure(modelSpec: string, presetName: string, steps: number) {
  const preset = loadPreset(presetName);
  const bench = benchTrainingStep(modelSpec, preset.method, preset.adapterConfig);
  bench.step();
  bench.step();
  const profile = await tf.profile(() => bench.step());
  const started = performance.now();
  for (let i = 0; i < steps; i++) bench.step();
  const msPerStep = (performance.now() - started) / steps;
  bench.dispose();
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
