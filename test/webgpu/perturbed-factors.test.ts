/**
 * MonteCLoRA's perturbed factors by the webgpu kernels (peft/monteclora/perturbed-factors.ts: A + ε√Σ ⊙ Σ_n w_n Z_n per
 * input width, the noise drawn in the kernel, and the gradients in w and ε√Σ) against the group sampler's tfjs ops on
 * wasm (its device draw, onHost: false), through the layers' down projections, their gradients in A, s and p, and the
 * logged noise-to-A ratio (the perturbations alone). Layers of two widths, each width's layers consecutive as an
 * adapter orders them, with a rank that does not divide the gradient kernel's workgroup and N = 3. The noise agrees
 * within a few units in the last place, so values agree within 1e-5 of their largest, gradients 2e-5. Every width
 * goes in one dispatch each way: the factors with the perturbations alone beside them, and the gradient — three where
 * the device binds too few buffers to write the perturbations beside the factors (MCEVAL_WEBGPU_LIMITS=default).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Scalar, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { hasKernel } from '../../src/engine/kernels/has-kernel.js';
import {
  PERTURBED_FACTORS,
  perturbationsAlongsideBindings,
} from '../../src/engine/kernels/webgpu/perturbed-factors.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { parseMonteCloraConfig, type MonteCloraConfig } from '../../src/peft/monteclora/config.js';
import { meanRegularizer, type MonteCloraLayer } from '../../src/peft/monteclora/layer.js';
import { GroupSampler } from '../../src/peft/monteclora/group-sampler.js';
import { StackedPriors } from '../../src/peft/monteclora/priors.js';
import { assertAgree } from './agreement.js';
import { dispatchesOf } from './dispatches.js';
import { fixedNoiseLayer } from '../helpers.js';

const OUT = 7;

const downProjection = (layer: MonteCloraLayer) =>
  (layer as unknown as { downProjection(c: object): Tensor2D }).downProjection({ training: true });

/** The down projections, logged terms and gradients in each A, s and p of a loss through them, on `backend`. */
async function evaluate(backend: 'wasm' | 'webgpu', cfg: MonteCloraConfig, widths: readonly number[]) {
  await initEngine(backend);
  assert.equal(hasKernel(PERTURBED_FACTORS), backend === 'webgpu');
  const before = tf.memory().numTensors;
  const layers = widths.map((width, l) => fixedNoiseLayer(cfg, width, OUT, l));
  const priors = StackedPriors.concat(layers.map((layer) => layer.priors));
  tf.tidy(() => {
    const rng = new Rng(60);
    const rows = (shape: number[], deviation: number) =>
      tf.tensor2d(rng.normalArray(shape[0]! * shape[1]!, 0, deviation), shape as [number, number]);
    priors.s.assign(rows(priors.s.shape, 0.4));
    priors.p.assign(rows(priors.p.shape, 0.8));
  });
  const sampler = new GroupSampler(layers, cfg, { onHost: false });
  layers.forEach((layer, l) => {
    layer.sampler = sampler;
    layer.sharePriors(priors, l);
  });
  const upstream = layers.map((layer, l) =>
    tf.tensor2d(new Rng(80 + l).normalArray(layer.loraA.size), [1, layer.loraA.size]),
  );
  let logged: Tensor | undefined;
  let products: Tensor[] = [];
  const variables = [...layers.map((layer) => layer.loraA), priors.s, priors.p];
  const step = () =>
    tf.variableGrads(() => {
      // Each layer's A + P, as its low-rank product reads it.
      products = layers.map((layer) => tf.keep(downProjection(layer)));
      const task = tf.addN(products.map((t, l) => tf.sum(tf.mul(tf.reshape(t, [1, -1]), upstream[l]!))));
      const regularizer = meanRegularizer(layers, cfg, (values) => (logged = values))!;
      return tf.add(task, tf.mul(regularizer, 10)) as Scalar;
    }, variables);
  let result: ReturnType<typeof step> | undefined;
  if (backend === 'webgpu') {
    // Every width in one dispatch: the factors and the perturbations alone (for the log), then the gradient.
    const dispatches = dispatchesOf('McevalPerturbedFactors', () => (result = step()));
    const binds = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
    const alongside = perturbationsAlongsideBindings(new Set(widths).size) <= binds;
    assert.equal(dispatches, alongside ? 2 : 3, `${new Set(widths).size} widths, ${binds} buffers`);
  } else {
    result = step();
  }
  const { value, grads } = result!;
  const outputs = [...products, logged!, ...variables.map((v) => grads[v.name]!)];
  const values = await Promise.all(outputs.map(async (t) => Array.from((await t.data()) as Float32Array)));
  tf.dispose([...outputs, value, ...upstream]);
  layers.forEach((layer) => layer.variables().forEach((v) => v.dispose()));
  priors.dispose();
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the draw`);
  return values;
}

for (const [label, overrides, widths] of [
  ['r 5, N 3, widths 40 and 100', { r: 5, components: 3 }, [40, 40, 100, 100, 100]],
  ['r 8, N 4, widths 64 and 300', { r: 8, components: 4 }, [64, 300]],
  ['a sparse mixture', { r: 4, components: 3, sparseMixture: true }, [24, 24, 48]],
] as const)
  test(`webgpu perturbed factors agree with the tfjs ops on wasm: ${label}`, async () => {
    const cfg = parseMonteCloraConfig({ alpha: 8, dropout: 0, sampleScaler: 0.3, klWeight: 0.1, ...overrides }, 'test');
    const reference = await evaluate('wasm', cfg, widths);
    const candidate = await evaluate('webgpu', cfg, widths);
    const layers = widths.length;
    reference.forEach((expected, i) => {
      const what = i < layers ? `A + P of layer ${i}` : i === layers ? 'logged terms' : `gradient ${i - layers - 1}`;
      assertAgree(what, candidate[i]!, expected, i <= layers ? 1e-5 : 2e-5);
    });
    // Every gradient (each A, s, p) is reached.
    reference.slice(layers + 1).forEach((grad) => assert.ok(grad.some((v) => v !== 0)));
  });
