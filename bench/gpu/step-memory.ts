/**
 * GPU memory of one LoRA training step on WebGPU with mceval's WGSL kernels and with tfjs's composed ops, at growing
 * sequence lengths: each measurement in a fresh process (tfjs-webgpu pools freed buffers, so the pool's size after the
 * step is the step's peak). Prints one JSON document. Runs on any adapter; here on the software one:
 *   bash scripts/with-software-webgpu.sh node dist/bench/gpu/step-memory.js [--model builtin:small] [--batch 2]
 *     [--lengths 256,512,1024]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { argument } from '../options.js';
import { initEngine } from '../../src/engine/backends.js';
import { registerWebGpuKernels } from '../../src/engine/kernels/register.js';
import { loadModel } from '../../src/models/load.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { causalLmStep } from '../../src/train/synthetic-step.js';
import { poolBytes } from './tally.js';

const KERNELS = ['mceval', 'tfjs'] as const;

interface Measurement {
  readonly kernels: (typeof KERNELS)[number];
  readonly length: number;
  readonly gpuBytes: number;
  readonly loss: number;
}

/** The child: one step, then the size of tfjs-webgpu's buffer pool. */
async function measure(kernels: (typeof KERNELS)[number], model: string, batch: number, length: number) {
  await initEngine('webgpu');
  registerWebGpuKernels(kernels === 'mceval');
  const loaded = loadModel(model).model;
  const run = causalLmStep(loaded, loraMethod, parseLoraConfig({ r: 8, alpha: 16, dropout: 0 }, 'bench'), {
    batch,
    length,
    seed: 1,
  });
  const value = await run.step();
  const result: Measurement = { kernels, length, gpuBytes: poolBytes(), loss: value };
  console.log(JSON.stringify(result));
}

const model = argument('model', 'builtin:small');
const batch = Number(argument('batch', '2'));
if (process.argv.includes('--child')) {
  await measure(
    argument('kernels', 'mceval') as (typeof KERNELS)[number],
    model,
    batch,
    Number(argument('length', '')),
  );
  process.exit(0);
}
const lengths = argument('lengths', '256,512,1024').split(',').map(Number);
const measurements: Measurement[] = [];
for (const length of lengths) {
  for (const kernels of KERNELS) {
    const args = [fileURLToPath(import.meta.url), '--child', '--kernels', kernels, '--length', String(length)];
    const output = execFileSync(process.execPath, [...args, '--model', model, '--batch', String(batch)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    measurements.push(JSON.parse(output.trim().split('\n').at(-1)!) as Measurement);
  }
}
console.log(JSON.stringify({ model, batch, method: 'lora', measurements }, null, 2));
