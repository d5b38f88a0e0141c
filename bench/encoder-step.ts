/**
 * An encoder's fine-tuning step (the MonteCLoRA paper's GLUE setting) on a CPU backend: a random RoBERTa-style
 * classifier of the given size, LoRA or MonteCLoRA from the presets on every linear layer (their targets read as the
 * encoder's modules), a batch of real tokens. Prints JSON: milliseconds per step (the middle of `--steps` after a
 * warm-up), tokens per second, and the attention path the step took.
 *
 *   node dist/bench/encoder-step.js [--hidden 256] [--layers 4] [--heads 4] [--length 128] [--batch 8]
 *     [--steps 5] [--adapter lora|monteclora] [--backend wasm|cpu] [--attention-dropout 0.1]
 */
import { initEngine } from '../src/engine/backends.js';
import { hasKernel } from '../src/engine/kernels/has-kernel.js';
import { CAUSAL_ATTENTION } from '../src/engine/kernels/causal-attention.js';
import { loadPreset } from '../src/peft/preset.js';
import { adapterConfigFor } from '../src/peft/target-aliases.js';
import { argument, middleTime, timedRuns } from './options.js';
import { benchClassifierStep } from './training-step.js';
import { randomEncoder } from './random-encoder.js';

const hidden = Number(argument('hidden', '256'));
const layers = Number(argument('layers', '4'));
const heads = Number(argument('heads', '4'));
const length = Number(argument('length', '128'));
const batchSize = Number(argument('batch', '8'));
const steps = Number(argument('steps', '5'));
const adapterName = argument('adapter', 'lora');
const backendName = argument('backend', 'wasm');
const attentionDropout = Number(argument('attention-dropout', '0.1'));
// The step reads its loss synchronously (training-step.ts), which WebGPU cannot: the GPU kit measures that backend.
if (backendName !== 'wasm' && backendName !== 'cpu') throw new Error('--backend is wasm or cpu');
const backend = await initEngine(backendName);

const model = randomEncoder({ layers, hidden, heads, vocabSize: 1000, maxLength: length, attentionDropout });
const preset = loadPreset(adapterName);
const bench = benchClassifierStep(model, preset.method, adapterConfigFor(model, preset.adapterConfig), {
  batchSize,
  length,
});
const times = timedRuns(() => bench.step(), steps);
bench.dispose();
const msPerStep = middleTime(times);
console.log(
  JSON.stringify(
    {
      backend: backend.tfName,
      adapter: adapterName,
      model: { hidden, layers, heads, intermediate: 4 * hidden, attentionDropout },
      batchSize,
      length,
      attention: hasKernel(CAUSAL_ATTENTION) && (hidden / heads) % 4 === 0 ? 'kernel' : 'composite',
      msPerStep: Math.round(msPerStep * 10) / 10,
      tokensPerSecond: Math.round((batchSize * length * 1000) / msPerStep),
      times: times.map((t) => Math.round(t)),
    },
    null,
    2,
  ),
);
