/**
 * bench/gpu/robustness: what Dawn's index clamping costs on this GPU (MCEVAL_WEBGPU_ROBUSTNESS, engine/dawn-flags.ts).
 * The device is opened once per process with the setting then in effect, so run.sh runs this once with `on` and once
 * with `off`: each prints its robustness, the products alone at `--product`³ (product-rates.ts: tfjs's matMul, mceval's
 * tiles and fused low-rank products, each way the tiles can be set), and builtin:medium's LoRA and MonteCLoRA steps —
 * milliseconds per step over `--steps` after two to warm up, and the losses, which must be the same bits both ways — as
 * JSON; targets.ts compares the two runs (`robustness step`).
 *
 * Usage: node robustness.mjs [--model builtin:medium] [--batch 8] [--length 256] [--steps 10] [--product 2048]
 */
import { initEngine } from '../../src/engine/backends.js';
import { webGpuAdapterReport } from '../../src/engine/webgpu.js';
import { loadModel } from '../../src/models/load.js';
import type { Model } from '../../src/models/model.js';
import { argument } from '../options.js';
import { stepper, type Method } from './step-methods.js';
import { productRates } from './product-rates.js';

const modelSpec = argument('model', 'builtin:medium');
const [batch, length, steps, size] = ['batch', 'length', 'steps', 'product'].map((name, i) =>
  Number(argument(name, ['8', '256', '10', '2048'][i]!)),
);

await initEngine('webgpu');
const setting = webGpuAdapterReport()!.robustness;

/**
 * `method`'s step on `model` (an adapter of its own, the base weights untouched): milliseconds per step and every
 * loss, from the same seed under either setting.
 */
async function step(model: Model, method: Method) {
  const run = stepper(model, batch!, length!, 11, method);
  try {
    const losses = [await run.step(), await run.step()];
    const started = performance.now();
    for (let i = 0; i < steps!; i++) losses.push(await run.step());
    const msPerStep = (performance.now() - started) / steps!;
    return { model: modelSpec, method, setting, batch, length, steps, msPerStep, losses };
  } finally {
    run.dispose();
  }
}

const products = await productRates([[size!, size!, size!]], 20);
const { model } = loadModel(modelSpec);
const robustnessSteps = [await step(model, 'lora'), await step(model, 'monteclora')];
model.dispose();
console.log(JSON.stringify({ robustness: setting, products, robustnessSteps }, null, 2));
process.exit(0);
