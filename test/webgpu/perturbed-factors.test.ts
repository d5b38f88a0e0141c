/**
 * MonteCLoRA's perturbed factors by the webgpu kernels (peft/monteclora/perturbed-factors.ts: A + ε√Σ ⊙ Σ_n w_n Z_n per
 * layer, the noise drawn in the kernel, and the gradients in w and ε√Σ) against the group sampler's tfjs ops on wasm
 * (its device draw, onHost: false), through the layers' down projections, their gradients in A, s and p, the logged
 * noise-to-A ratio (from the kernel's sums of squares) and the perturbations alone (made when read). Layers of two and
 * three widths — in order, and interleaved — with a rank that does not divide the gradient kernel's workgroup and
 * N = 3. The noise agrees within a few units in the last place, so values agree within 1e-5 of their largest,
 * gradients 2e-5. Each way takes as many dispatches as the device's storage buffers ask: layers read and written in
 * their own buffers (two bindings a layer forward beside four, one backward beside five, one alone beside four), and
 * no buffer copies for the factors, where stacking each width's A's, cutting A′ and stacking its gradients took three
 * per layer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Scalar, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { hasKernel } from '../../src/engine/kernels/has-kernel.js';
import { PERTURBED_FACTORS } from '../../src/engine/kernels/webgpu/perturbed-factors.js';
import { captureCommands } from '../../src/engine/replay/command-capture.js';
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
  let perturbations: Tensor[] = [];
  const variables = [...layers.map((layer) => layer.loraA), priors.s, priors.p];
  const step = () =>
    tf.variableGrads(() => {
      // Each layer's A + P, as its low-rank product reads it.
      products = layers.map((layer) => tf.keep(downProjection(layer)));
      // Added in turn: tfjs-webgpu's AddN binds every term, more than WebGPU's default 8 buffers for 13 layers.
      const task = products
        .map((t, l) => tf.sum(tf.mul(tf.reshape(t, [1, -1]), upstream[l]!)))
        .reduce((total, term) => tf.add(total, term));
      const regularizer = meanRegularizer(layers, cfg, (values) => (logged = values))!;
      // The perturbations alone, made when read (off the loss).
      perturbations = layers.map((layer) => tf.keep(layer.lastSample!.perturbation));
      return tf.add(task, tf.mul(regularizer, 10)) as Scalar;
    }, variables);
  let result: ReturnType<typeof step> | undefined;
  if (backend === 'webgpu') {
    const binds = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
    const runs = (each: number, shared: number) =>
      Math.ceil(widths.length / Math.max(1, Math.floor((binds - shared) / each)));
    const gpu = tf.backend();
    (gpu as unknown as { submitRecorded(): void }).submitRecorded();
    const capture = captureCommands(gpu);
    capture.begin();
    const dispatches = dispatchesOf('McevalPerturbedFactors', () => (result = step()));
    const copies = capture.take().filter((event) => event.kind === 'copy').length;
    capture.stop();
    // The factors, the perturbations alone, the gradient.
    assert.equal(dispatches, runs(2, 4) + runs(1, 4) + runs(1, 5), `${widths.length} layers, ${binds} buffers`);
    assert.equal(copies, 0, 'no buffer copies in the step');
  } else {
    result = step();
  }
  const { value, grads } = result!;
  const outputs = [...products, logged!, ...perturbations, ...variables.map((v) => grads[v.name]!)];
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
  // More layers than one dispatch binds, in several each way, of three widths interleaved.
  [
    'r 3, N 3, 13 layers of widths 16, 24 and 40 interleaved',
    { r: 3, components: 3 },
    [16, 16, 40, 24, 40, 16, 24, 24, 40, 16, 40, 24, 16],
  ],
] as const)
  test(`webgpu perturbed factors agree with the tfjs ops on wasm: ${label}`, async () => {
    const cfg = parseMonteCloraConfig({ alpha: 8, dropout: 0, sampleScaler: 0.3, klWeight: 0.1, ...overrides }, 'test');
    const reference = await evaluate('wasm', cfg, widths);
    const candidate = await evaluate('webgpu', cfg, widths);
    const layers = widths.length;
    const what = (i: number) =>
      i < layers
        ? `A + P of layer ${i}`
        : i === layers
          ? 'logged terms'
          : i <= 2 * layers
            ? `P of layer ${i - layers - 1}`
            : `gradient ${i - 2 * layers - 1}`;
    reference.forEach((expected, i) => assertAgree(what(i), candidate[i]!, expected, i <= 2 * layers ? 1e-5 : 2e-5));
    // Every gradient (each A, s, p) is reached.
    reference.slice(2 * layers + 1).forEach((grad) => assert.ok(grad.some((v) => v !== 0)));
  });
