/**
 * bench/gpu/robustness: what Dawn's index clamping costs on this GPU (MCEVAL_WEBGPU_ROBUSTNESS, engine/dawn-flags.ts).
 * The device is opened once per process with the setting then in effect, so run.sh runs this once with `on` and once
 * with `off`: each prints its robustness, the TFLOP/s of mceval's product tiles at `--product` (64 and 128 wide, and
 * the fused low-rank product), and builtin:medium's LoRA and MonteCLoRA steps — milliseconds per step over `--steps`
 * after two to warm up, and the losses, which must be the same bits both ways — as JSON; targets.ts compares the two
 * runs (`robustness step`).
 *
 * Usage: node robustness.mjs [--model builtin:medium] [--batch 8] [--length 256] [--steps 10] [--product 2048]
 */
import { tf, type Tensor } from '../../src/engine/tf.js';
import { initEngine } from '../../src/engine/backends.js';
import { webGpuAdapterReport } from '../../src/engine/webgpu.js';
import { loadModel } from '../../src/models/load.js';
import type { Model } from '../../src/models/model.js';
import { MATRIX_PRODUCT } from '../../src/engine/kernels/webgpu/matrix-product.js';
import { LOW_RANK_PRODUCT } from '../../src/engine/kernels/webgpu/low-rank-product.js';
import { withEnv } from '../../test/with-env.js';
import { argument } from '../options.js';
import { timePerCall } from './time-per-call.js';
import { stepper, type Method } from './step-methods.js';

const modelSpec = argument('model', 'builtin:medium');
const [batch, length, steps, size] = ['batch', 'length', 'steps', 'product'].map((name, i) =>
  Number(argument(name, ['8', '256', '10', '2048'][i]!)),
);

await initEngine('webgpu');
const setting = webGpuAdapterReport()!.robustness;

/** TFLOP/s of a size³ product on mceval's tiles, 64 and 128 wide, and of the fused low-rank product (rank 8). */
async function productRates() {
  const [x, w, d, e] = [
    [size, size],
    [size, size],
    [size, 8],
    [8, size],
  ].map((shape) => tf.randomNormal(shape, 0, 0.1, 'float32', 1));
  const flops = 2 * size! ** 3;
  const matrix = () =>
    tf
      .engine()
      .runKernel(MATRIX_PRODUCT, { x: x!, w: w! }, { transposeX: false, transposeW: false } as never) as Tensor;
  const fused = () =>
    tf.engine().runKernel(LOW_RANK_PRODUCT, { x: x!, w: w!, d: d!, e: e! }, {
      transposeW: false,
      transposeE: false,
      scale: 1,
    } as never) as Tensor;
  const rate = async (tile: string, product: () => Tensor) =>
    flops / (await withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, () => timePerCall(product, 20))) / 1e12;
  const rates = {
    size,
    matrixProductTflops: await rate('64', matrix),
    matrixProductTile128Tflops: await rate('128', matrix),
    mcevalTflops: await rate('64', fused),
  };
  [x, w, d, e].forEach((t) => t!.dispose());
  return rates;
}

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

const products = await productRates();
const { model } = loadModel(modelSpec);
const robustnessSteps = [await step(model, 'lora'), await step(model, 'monteclora')];
model.dispose();
console.log(JSON.stringify({ robustness: setting, products, robustnessSteps }, null, 2));
process.exit(0);
