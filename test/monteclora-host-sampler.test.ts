/**
 * The host form of MonteCLoRA's sampling (host-sampler.ts: the whole group's draw and regulariser terms as one op,
 * gradients derived by hand) against its definition, group-sampler.ts's tfjs ops with kl.ts's terms (themselves
 * checked against central differences and scipy in monteclora.test.ts): the perturbed A of every layer, Σ and w, the
 * regulariser and its logged terms, and the gradients of A, s and p, for each variant that changes the maths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor, type Tensor2D } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { parseMonteCloraConfig, type MonteCloraConfig } from '../src/peft/monteclora/config.js';
import { meanRegularizer, MonteCloraLayer } from '../src/peft/monteclora/layer.js';
import { GroupSampler } from '../src/peft/monteclora/group-sampler.js';
import { StackedPriors } from '../src/peft/monteclora/priors.js';
import { fixedNoiseLayer, maxAbsDifference, onEachBackend } from './helpers.js';

/** Layers of two input widths (the device path batches layers of equal width together). */
const WIDTHS = [6, 10, 6];
const OUT = 5;

/**
 * The layers, each with its own priors, or with `shared` their priors stacked into one set (as an adapter holds them):
 * the sampler then reads the parameters as they are rather than cutting and joining rows.
 */
function layersOf(cfg: MonteCloraConfig, onHost: boolean, shared: boolean): MonteCloraLayer[] {
  const layers = WIDTHS.map((width, l) => {
    const layer = fixedNoiseLayer(cfg, width, OUT, l);
    // Priors away from their initial values, so that both clamps and every term are exercised as in training.
    const rng = new Rng(60 + l);
    tf.tidy(() => {
      layer.priors.s.assign(tf.tensor2d(rng.normalArray(cfg.r, 0, 0.4), [1, cfg.r]));
      layer.priors.p.assign(tf.tensor2d(rng.normalArray(cfg.components, 0, 0.8), [1, cfg.components]));
    });
    return layer;
  });
  const sampler = new GroupSampler(layers, cfg, { onHost });
  const priors = shared ? StackedPriors.concat(layers.map((layer) => layer.priors)) : undefined;
  layers.forEach((layer, l) => {
    layer.sampler = sampler;
    if (priors !== undefined) layer.sharePriors(priors, l);
  });
  return layers;
}

const downProjection = (layer: MonteCloraLayer) =>
  (layer as unknown as { downProjection(c: object): Tensor2D }).downProjection({ training: true });

/**
 * Everything a training step reads from the sample, and the gradients of a loss through all of it: each layer's A's,
 * then every layer's s and p (rows in layer order).
 */
function run(cfg: MonteCloraConfig, onHost: boolean, shared = false) {
  const layers = layersOf(cfg, onHost, shared);
  const priors = [...new Set(layers.map((layer) => layer.priors))];
  const variables = [
    ...layers.map((layer) => layer.loraA),
    ...priors.map((set) => set.s),
    ...priors.map((set) => set.p),
  ];
  const upstream = layers.map((layer, l) =>
    tf.tensor(new Rng(80 + l).normalArray(layer.loraA.size), layer.loraA.shape),
  );
  let logged: Tensor | undefined;
  const means = layers.map((layer) => Array.from(layer.loraA.dataSync()));
  const out = tf.tidy(() => {
    let perturbed: number[][] = [];
    let covariance: number[] = [];
    let weights: number[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const products = layers.map(downProjection);
      perturbed = products.map((t) => Array.from(t.dataSync()));
      covariance = layers.flatMap((layer) => Array.from(layer.lastSample!.covariance.dataSync()));
      weights = layers.flatMap((layer) => Array.from(layer.lastSample!.weights.dataSync()));
      const task = tf.addN(products.map((t, l) => tf.sum(tf.mul(t, upstream[l]!))));
      // A large multiple of the regulariser, so that its gradient is not lost beside the task's.
      const regularizer = meanRegularizer(layers, cfg, (values) => (logged = values))!;
      return tf.add(task, tf.mul(regularizer, 1e4)) as tf.Scalar;
    }, variables);
    return {
      perturbed,
      covariance,
      weights,
      loss: value.dataSync()[0]!,
      grads: [
        ...layers.map((layer) => Array.from(grads[layer.loraA.name]!.dataSync())),
        ...(['s', 'p'] as const).map((name) => priors.flatMap((set) => Array.from(grads[set[name].name]!.dataSync()))),
      ],
    };
  });
  const log = Array.from(logged!.dataSync());
  logged!.dispose();
  upstream.forEach((t) => t.dispose());
  layers.forEach((layer) => layer.variables().forEach((v) => v.dispose()));
  if (shared) priors[0]!.dispose();
  return { ...out, log, means };
}

/** |a − b| ≤ tolerance·max(1, |b|) elementwise. */
function assertClose(actual: readonly number[], expected: readonly number[], tolerance: number, what: string) {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((value, i) =>
    assert.ok(
      Math.abs(value - expected[i]!) <= tolerance * Math.max(1, Math.abs(expected[i]!)),
      `${what}[${i}]: ${value} vs ${expected[i]}`,
    ),
  );
}

onEachBackend(() => {
  for (const [label, overrides] of [
    ['the paper', {}],
    ['M = 3 outer samples', { outerSamples: 3 }],
    ['sparse mixture', { sparseMixture: true }],
    ["the reference code's ε² and Dirichlet KL sign", { doubleScale: true, dirichletKlReferenceSign: true }],
    ['a random Dirichlet prior', { randomDirichletPrior: true }],
  ] as const)
    test(`host sampling gives the tfjs ops' perturbed A, Σ, w, regulariser and gradients (${label})`, () => {
      const cfg = parseMonteCloraConfig(
        { r: 4, alpha: 8, dropout: 0, components: 3, sampleScaler: 0.3, klWeight: 0.1, ...overrides },
        'test',
      );
      const before = tf.memory().numTensors;
      const host = run(cfg, true);
      const device = run(cfg, false);
      assert.equal(tf.memory().numTensors, before, 'tensors left behind');
      host.perturbed.forEach((values, l) => assertClose(values, device.perturbed[l]!, 1e-6, `A + P of layer ${l}`));
      assertClose(host.covariance, device.covariance, 1e-6, 'Σ');
      assertClose(host.weights, device.weights, 1e-6, 'w');
      assertClose([host.loss], [device.loss], 1e-5, 'loss');
      assertClose(host.log, device.log, 1e-5, 'logged terms and noise-to-A ratio');
      host.grads.forEach((values, i) => assertClose(values, device.grads[i]!, 1e-4, `gradient ${i}`));
      // The perturbation moved A, and A, s and p all receive gradients.
      host.perturbed.forEach((values, l) => assert.ok(maxAbsDifference(values, host.means[l]!) > 1e-3));
      assert.ok(host.grads.every((values) => values.some((v) => v !== 0)));
    });

  test("priors held as one parameter (an adapter's layers) give what each layer's own give, on both samplers", () => {
    const cfg = parseMonteCloraConfig(
      { r: 4, alpha: 8, dropout: 0, components: 3, sampleScaler: 0.3, klWeight: 0.1, randomDirichletPrior: true },
      'test',
    );
    for (const onHost of [true, false]) {
      const before = tf.memory().numTensors;
      const own = run(cfg, onHost);
      const shared = run(cfg, onHost, true);
      assert.equal(tf.memory().numTensors, before, 'tensors left behind');
      // The same operations on the same values: equal, not just close.
      assert.deepEqual(shared.perturbed, own.perturbed);
      assert.deepEqual([shared.covariance, shared.weights, shared.loss], [own.covariance, own.weights, own.loss]);
      assert.deepEqual(shared.log, own.log);
      assert.deepEqual(shared.grads, own.grads);
    }
  });
});
