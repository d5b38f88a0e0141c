/**
 * bench/monteclora-overhead: the cost of MonteCLoRA over LoRA for the same model, rank and targets — step-time ratio
 * and peak-memory ratio (peak tfjs tensor bytes during a training step) — on builtin:tiny, builtin:small (hidden 256,
 * 4 layers) and stories260K (when ../shared is present), bs 16 at each length, from interleaved steps. MonteCLoRA's
 * peak includes the noise it keeps on the host. The time ratio is of mean step times over whole cycles of
 * MonteCLoRA's noise buffer (one step in `bufferSize` draws the next batch of noise, which a median would leave out),
 * the median over `repeats` fresh pairs of models; the ratio of median step times is reported beside it. Prints JSON.
 * The paper reports 1.23–1.78× time and 1.06–1.25× memory.
 *
 * Usage: bench/monteclora-overhead [--backend wasm|cpu] [--steps N] [--repeats 3] [--lengths 64,128]
 *   [--models tiny,small,stories260K]
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tf } from '../src/engine/tf.js';
import { initEngine, type BackendRequest } from '../src/engine/backends.js';
import { loadPreset } from '../src/peft/preset.js';
import { benchTrainingStep, type BenchStep } from './training-step.js';
import { MonteCloraLayer } from '../src/peft/monteclora/layer.js';
import type { MonteCloraConfig } from '../src/peft/monteclora/config.js';
import { argument, middleTime } from './options.js';

/**
 * Bytes of noise MonteCLoRA keeps on the host: bufferSize draws ahead of M·r + M·N floats per layer (the Gaussian part
 * is a key), and the current draw's M·N·d_in·r Gaussian values, computed when the host sampler reads them. Not tensor
 * memory, so added to its peak by hand.
 */
function noiseBufferBytes(model: BenchStep['model'], config: MonteCloraConfig): number {
  const { bufferSize, outerSamples: M, components: N, r } = config;
  const layers = model
    .linears()
    .map((linear) => linear.adapter)
    .filter((adapter): adapter is MonteCloraLayer => adapter instanceof MonteCloraLayer);
  return layers.reduce((total, layer) => {
    return total + 4 * (bufferSize * (M * r + M * N) + M * N * layer.loraA.shape[0]! * r);
  }, 0);
}

/**
 * LoRA and MonteCLoRA steps alternate, one of each per round, so that drift in the machine's speed (other processes,
 * thermal) hits both alike instead of whichever ran second.
 */
async function measurePair(modelSpec: string, length: number, rounds: number) {
  const presets = ['lora', 'monteclora'].map(loadPreset);
  const benches = presets.map((preset) =>
    benchTrainingStep(modelSpec, preset.method, preset.adapterConfig, { length }),
  );
  const monteclora = presets[1]!.adapterConfig as MonteCloraConfig;
  // Warm-up: one cycle of the noise buffer each, interleaved, so that V8 has compiled both paths before timing (the
  // first pair timed in a process otherwise came out ~5% worse for whichever path was still being optimised).
  for (let step = 0; step < monteclora.bufferSize; step++) benches.forEach((bench) => bench.step());
  const profiles: { peakBytes: number; kernels: number }[] = [];
  for (const [i, bench] of benches.entries()) {
    // tfjs reuses its profile object: copy the numbers out before the next profile.
    const profile = await tf.profile(() => bench.step());
    const noise = i === 1 ? noiseBufferBytes(bench.model, monteclora) : 0;
    profiles.push({ peakBytes: profile.peakBytes + noise, kernels: profile.kernels.length });
  }
  const times: number[][] = [[], []];
  const cycle = monteclora.bufferSize;
  for (let round = 0; round < Math.ceil(rounds / cycle) * cycle; round++) {
    benches.forEach((bench, i) => {
      const started = performance.now();
      bench.step();
      times[i]!.push(performance.now() - started);
    });
  }
  benches.forEach((bench) => bench.dispose());
  const [loraResult, montecloraResult] = [0, 1].map((i) => ({
    msPerStep: times[i]!.reduce((a, b) => a + b, 0) / times[i]!.length,
    medianMsPerStep: middleTime(times[i]!),
    peakBytes: profiles[i]!.peakBytes,
    kernels: profiles[i]!.kernels,
    steps: times[i]!.length,
  }));
  return { lora: loraResult!, monteclora: montecloraResult! };
}

const backend = argument('backend', 'wasm') as BackendRequest;
await initEngine(backend);
const steps = Number(argument('steps', '20'));
const stories = fileURLToPath(new URL('../../../shared/models/stories260K/hf', import.meta.url));
const available = {
  tiny: 'builtin:tiny',
  small: 'builtin:small',
  ...(existsSync(stories) ? { stories260K: stories } : {}),
};
const models = argument('models', Object.keys(available).join(','))
  .split(',')
  .map((name) => available[name as keyof typeof available])
  .filter((model) => model !== undefined);
const lengths = argument('lengths', '64,128').split(',').map(Number);
// Each model × length is measured on `repeats` fresh pairs of models and reports the median ratio: the ratio of one
// pair moved by ±5% from pair to pair here (where each model's tensors land in memory changes its speed), more than
// the interleaving within a pair removes.
const repeats = Number(argument('repeats', '3'));
const median = (values: number[]) => middleTime(values);
const results = [];
for (const model of models) {
  for (const length of lengths) {
    const n = model === 'builtin:small' ? Math.max(3, Math.floor(steps / 4)) : steps;
    const pairs = [];
    for (let repeat = 0; repeat < (model === 'builtin:small' ? 1 : repeats); repeat++) {
      pairs.push(await measurePair(model, length, n));
    }
    const { lora, monteclora } = pairs[0]!;
    results.push({
      model: model === stories ? 'stories260K' : model,
      length,
      steps: lora.steps,
      pairs: pairs.length,
      lora,
      monteclora,
      timeRatio: median(pairs.map((pair) => pair.monteclora.msPerStep / pair.lora.msPerStep)),
      timeRatios: pairs.map((pair) => pair.monteclora.msPerStep / pair.lora.msPerStep),
      medianStepTimeRatio: median(pairs.map((pair) => pair.monteclora.medianMsPerStep / pair.lora.medianMsPerStep)),
      memoryRatio: monteclora.peakBytes / lora.peakBytes,
      kernelRatio: monteclora.kernels / lora.kernels,
    });
  }
}
console.log(JSON.stringify({ backend, node: process.version, targets: { time: 1.1, memory: 1.05 }, results }, null, 2));
