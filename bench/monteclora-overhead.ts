/**
 * bench/monteclora-overhead: the cost of MonteCLoRA over LoRA for the same model, rank and targets — step-time ratio
 * and peak-memory ratio (peak tfjs tensor bytes during a training step) — on builtin:tiny, builtin:small (hidden 256,
 * 4 layers) and stories260K (when ../shared is present), bs 16 at each length, median step times of interleaved steps.
 * Prints JSON. The paper reports 1.23–1.78× time and 1.06–1.25× memory.
 *
 * Usage: bench/monteclora-overhead [--backend wasm|cpu] [--steps N] [--lengths 64,128]
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tf } from '../src/engine/tf.js';
import { initEngine, type BackendRequest } from '../src/engine/backends.js';
import { loadPreset } from '../src/peft/preset.js';
import { benchTrainingStep } from './training-step.js';
import { argument, middleTime } from './options.js';

/**
 * LoRA and MonteCLoRA steps alternate, one of each per round, and each side reports its median step time: drift in
 * the machine's speed (other processes, thermal) then hits both alike instead of whichever ran second.
 */
async function measurePair(modelSpec: string, length: number, rounds: number) {
  const benches = ['lora', 'monteclora'].map((name) => {
    const preset = loadPreset(name);
    return benchTrainingStep(modelSpec, preset.method, preset.adapterConfig, { length });
  });
  const profiles: { peakBytes: number; kernels: number }[] = [];
  for (const bench of benches) {
    bench.step();
    bench.step();
    // tfjs reuses its profile object: copy the numbers out before the next profile.
    const profile = await tf.profile(() => bench.step());
    profiles.push({ peakBytes: profile.peakBytes, kernels: profile.kernels.length });
  }
  const times: number[][] = [[], []];
  for (let round = 0; round < rounds; round++) {
    benches.forEach((bench, i) => {
      const started = performance.now();
      bench.step();
      times[i]!.push(performance.now() - started);
    });
  }
  benches.forEach((bench) => bench.dispose());
  const [lora, monteclora] = [0, 1].map((i) => ({
    msPerStep: middleTime(times[i]!),
    peakBytes: profiles[i]!.peakBytes,
    kernels: profiles[i]!.kernels,
  }));
  return { lora: lora!, monteclora: monteclora! };
}

const backend = argument('backend', 'wasm') as BackendRequest;
await initEngine(backend);
const steps = Number(argument('steps', '20'));
const stories = fileURLToPath(new URL('../../../shared/models/stories260K/hf', import.meta.url));
const models = ['builtin:tiny', 'builtin:small', ...(existsSync(stories) ? [stories] : [])];
const lengths = argument('lengths', '64,128').split(',').map(Number);
const results = [];
for (const model of models) {
  for (const length of lengths) {
    const n = model === 'builtin:small' ? Math.max(3, Math.floor(steps / 4)) : steps;
    const { lora, monteclora } = await measurePair(model, length, n);
    results.push({
      model: model === stories ? 'stories260K' : model,
      length,
      steps: n,
      lora,
      monteclora,
      timeRatio: monteclora.msPerStep / lora.msPerStep,
      memoryRatio: monteclora.peakBytes / lora.peakBytes,
      kernelRatio: monteclora.kernels / lora.kernels,
    });
  }
}
console.log(JSON.stringify({ backend, node: process.version, targets: { time: 1.1, memory: 1.05 }, results }, null, 2));
