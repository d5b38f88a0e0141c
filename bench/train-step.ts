/**
 * bench/train-step: steps/s and achieved GFLOP/s of one LoRA training step (forward, backward, AdamW) on builtin
 * models, per backend. Prints one JSON document. FLOPs are counted exactly for the matrix products the step runs
 * (2·m·k·n each): frozen base layers cost a forward and an input-gradient product, LoRA matrices and attention a
 * forward and two backward products; elementwise work is not counted.
 *
 * Usage: bench/train-step [--backends wasm,cpu] [--models builtin:tiny,builtin:small] [--steps N]
 */
import { initEngine, type BackendRequest } from '../src/engine/backends.js';
import { loraMethod } from '../src/peft/lora/index.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { matmulSelfCheck } from '../src/engine/selfcheck.js';
import type { AdapterMethod } from '../src/peft/types.js';
import { benchTrainingStep } from './training-step.js';
import type { LlamaConfig } from '../src/models/llama/config.js';

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1]! : fallback;
}

/** Matrix-product FLOPs of one training step. */
function stepFlops(config: LlamaConfig, batch: number, length: number, rank: number): number {
  const tokens = batch * length;
  const d = config.hiddenSize;
  const kv = (config.numKeyValueHeads * d) / config.numAttentionHeads;
  const m = config.intermediateSize;
  const base = d * d * 2 + d * kv * 2 + 3 * d * m;
  const lora = rank * (2 * (d + d) + 2 * (d + kv) + 2 * (d + m) + (m + d));
  const attention = 2 * 2 * batch * length * length * d;
  const perLayer = 2 * tokens * base * 2 + 2 * tokens * lora * 3 + attention * 3;
  return config.numHiddenLayers * perLayer;
}

async function measure(backend: BackendRequest, modelSpec: string, steps: number) {
  await initEngine(backend);
  const rank = 8;
  const config = parseLoraConfig(
    {
      r: rank,
      alpha: 16,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    },
    'bench',
  );
  const bench = benchTrainingStep(modelSpec, loraMethod as AdapterMethod<unknown>, config);
  const { model, batchSize, length } = bench;
  bench.step();
  bench.step();
  const started = performance.now();
  for (let i = 0; i < steps; i++) bench.step();
  const seconds = (performance.now() - started) / 1000;
  const flops = stepFlops(model.config, batchSize, length, rank);
  const { hiddenSize, numHiddenLayers } = model.config;
  bench.dispose();
  return {
    backend,
    model: modelSpec,
    hidden: hiddenSize,
    layers: numHiddenLayers,
    batch: batchSize,
    length,
    steps,
    stepsPerSecond: steps / seconds,
    msPerStep: (seconds * 1000) / steps,
    gflopsPerSecond: (flops * steps) / seconds / 1e9,
  };
}

const backends = argument('backends', 'wasm,cpu').split(',') as BackendRequest[];
const models = argument('models', 'builtin:tiny,builtin:small').split(',');
const results = [];
const plainMatmul: Record<string, number> = {};
for (const backend of backends) {
  for (const model of models) {
    // cpu is ~30× slower than wasm: fewer steps keep the benchmark to a minute or two.
    const steps = Number(argument('steps', backend === 'cpu' ? '3' : '20'));
    results.push(await measure(backend, model, steps));
  }
  plainMatmul[backend] = (await matmulSelfCheck(1024, backend === 'cpu' ? 1 : 5)).gflops;
}
console.log(JSON.stringify({ node: process.version, plainMatmul1024GflopsPerSecond: plainMatmul, results }, null, 2));
