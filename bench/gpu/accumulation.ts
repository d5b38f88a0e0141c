/**
 * Gradient accumulation on WebGPU: compute dispatches per optimiser step and the peak tensor bytes of fine-tuning
 * (`fineTune`, causal LM, LoRA or MonteCLoRA r = 8 on every linear layer, one epoch of two steps) with 1, 2 and 4
 * micro-batches, each with mceval's accumulation kernel (McevalAccumulate: the running sums in a few dispatches, written
 * in place) and with tfjs's Add per parameter. Prints one JSON document. Runs on any adapter; here on the software one:
 *   bash scripts/with-software-webgpu.sh node dist/bench/gpu/accumulation.js [--model builtin:small]
 *     [--method lora|monteclora] [--batch 4] [--length 16] [--micro-batches 1,2,4]
 */
import { argument } from '../options.js';
import { dispatches } from './tally.js';
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { Rng } from '../../src/engine/rng.js';
import { ACCUMULATE, webGpuAccumulateKernel } from '../../src/engine/kernels/webgpu/accumulate.js';
import { loadModel } from '../../src/models/load.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { monteCloraMethod } from '../../src/peft/monteclora/index.js';
import { parseMonteCloraConfig } from '../../src/peft/monteclora/config.js';
import { adapterConfigFor } from '../../src/peft/target-aliases.js';
import { fineTune } from '../../src/train/fine-tune.js';

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** Dispatches of each of a fine-tuning run's steps, and its peak tensor bytes. */
async function measure(spec: string, method: string, batch: number, length: number, microBatches: number) {
  const { model } = loadModel(spec);
  const adapter =
    method === 'monteclora'
      ? monteCloraMethod.apply(
          model,
          adapterConfigFor(model, parseMonteCloraConfig({ r: 8, alpha: 16, dropout: 0, targetModules: TARGETS }, 'b')),
          new Rng(1),
        )
      : loraMethod.apply(
          model,
          adapterConfigFor(model, parseLoraConfig({ r: 8, alpha: 16, dropout: 0, targetModules: TARGETS }, 'b')),
          new Rng(1),
        );
  const vocabulary = model.config.vocabSize;
  const examples = Array.from({ length: 2 * batch }, (_, i) => ({
    ids: Array.from({ length }, (_, j) => ((i * 31 + j * 7) % (vocabulary - 3)) + 3),
    label: 0,
    targetStart: Math.floor(length / 4),
  }));
  let stop = dispatches();
  const perStep: number[] = [];
  try {
    const result = await fineTune({
      model,
      groups: adapter.groups,
      examples,
      objective: 'causal-lm',
      learningRate: 0.01,
      batchSize: batch,
      epochs: 1,
      weightDecay: 0.01,
      warmupRatio: 0,
      maxGradNorm: 1,
      rng: new Rng(2),
      hooks: adapter,
      gradientAccumulation: microBatches,
      onStep: () => {
        perStep.push(stop());
        stop = dispatches();
      },
    });
    return { dispatchesPerStep: perStep, peakTensorBytes: result.peakTensorBytes };
  } finally {
    stop();
    adapter.dispose();
    model.dispose();
  }
}

await initEngine('webgpu');
const spec = argument('model', 'builtin:small');
const method = argument('method', 'lora');
const batch = Number(argument('batch', '4'));
const length = Number(argument('length', '16'));
const counts = argument('micro-batches', '1,2,4').split(',').map(Number);
const measurements = [];
for (const microBatches of counts)
  for (const kernel of ['mceval', 'tfjs'] as const) {
    // Without mceval's kernel, addEach falls back to tfjs's Add per parameter.
    if (kernel === 'tfjs') tf.unregisterKernel(ACCUMULATE, 'webgpu');
    try {
      measurements.push({ microBatches, kernel, ...(await measure(spec, method, batch, length, microBatches)) });
    } finally {
      if (kernel === 'tfjs') tf.registerKernel(webGpuAccumulateKernel());
    }
  }
console.log(JSON.stringify({ model: spec, method, batch, length, backend: tf.getBackend(), measurements }, null, 2));
