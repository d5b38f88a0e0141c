/**
 * MonteCLoRA against docs/monteclora.md: special functions (reference values: scipy 1.17.1 gammaln/digamma),
 * the spec's KL and logistic-normal test vectors, sampler statistics, gradient paths and the four switches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor, type Tensor2D } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { digamma, lgamma } from '../src/peft/monteclora/special-functions.js';
import { cooperativeLoss, dirichletKl, gaussianKl, wishartKl } from '../src/peft/monteclora/kl.js';
import { logisticNormalParameters, mixtureWeights } from '../src/peft/monteclora/mixture-weights.js';
import { chiSquareDraws, drawLayerNoise, NoiseBuffer } from '../src/peft/monteclora/noise.js';
import { MonteCloraLayer } from '../src/peft/monteclora/layer.js';
import { parseMonteCloraConfig, type MonteCloraConfig } from '../src/peft/monteclora/config.js';
import { loadPreset } from '../src/peft/preset.js';
import { onEachBackend } from './helpers.js';

const close = (actual: number, expected: number, tolerance = 1e-5) =>
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${actual} vs ${expected}`);

const values = (t: Tensor) => Array.from(t.dataSync());

function config(overrides: Partial<MonteCloraConfig> = {}): MonteCloraConfig {
  return { ...parseMonteCloraConfig({ r: 4, alpha: 8 }, 'test'), ...overrides };
}

/** The noise shape a layer of `inFeatures` inputs draws under `cfg`. */
function shapeOf(cfg: MonteCloraConfig, inFeatures: number) {
  return {
    components: cfg.components,
    inFeatures,
    rank: cfg.r,
    outerSamples: cfg.outerSamples,
    mixture: cfg.mixtureWeights === 'dirichlet' ? ('uniform' as const) : ('normal' as const),
  };
}

onEachBackend(() => {
  test('lgamma and digamma match scipy, near 0 and above 35 included (relative 1e-5)', () => {
    const xs = [1e-3, 0.01, 0.5, 1, 1.5, 2, 3.7, 10, 35.5, 40, 100];
    // scipy.special.gammaln / digamma (scipy 1.17.1, float64)
    const lnGamma = [
      6.907178885383853, 4.599479878042022, 0.5723649429247, 0, -0.12078223763524526, 0, 1.428072326665388,
      12.801827480081469, 90.35493026581838, 106.63176026064345, 359.1342053695754,
    ];
    const psi = [
      -1000.5755719318103, -100.56088545786868, -1.9635100260214235, -0.5772156649015329, 0.03648997397857652,
      0.42278433509846713, 1.1671535393615113, 2.251752589066721, 3.555382070237859, 3.6763273740348428,
      4.600161852738088,
    ];
    const x = tf.tensor1d(xs);
    values(lgamma(x)).forEach((v, i) => close(v, lnGamma[i]!));
    values(digamma(x)).forEach((v, i) => close(v, psi[i]!));
    // digamma is lgamma's derivative, through autodiff too.
    values(tf.grad((t: Tensor) => tf.sum(lgamma(t)))(tf.tensor1d([0.5, 2, 40]))).forEach((v, i) =>
      close(v, [psi[2]!, psi[5]!, psi[9]!][i]!, 1e-4),
    );
    // ψ's derivative, trigamma: scipy.special.polygamma(1, x) at 1e-3, 0.5, 1, 3.7, 10, 40.
    const trigamma = [
      1000001.6425331959, 4.93480220054468, 1.6449340668482266, 0.31003785767003833, 0.10516633568168576,
      0.025315103841291032,
    ];
    values(tf.grad((t: Tensor) => tf.sum(digamma(t)))(tf.tensor1d([1e-3, 0.5, 1, 3.7, 10, 40]))).forEach((v, i) =>
      close(v, trigamma[i]!),
    );
  });

  test('KL terms reproduce the spec test vectors', () => {
    close(dirichletKl(tf.tensor1d([0.5, 1, 2, 3]), 1).dataSync()[0]!, 1.37312);
    close(dirichletKl(tf.tensor1d([0.5, 1, 2, 3]), 1, true).dataSync()[0]!, 3.90414);
    close(wishartKl(tf.tensor1d([0, 0.5, -0.5])).dataSync()[0]!, 1.62924);
    close(gaussianKl(tf.tensor1d([0.5, 1, 2]), 4).dataSync()[0]!, 1.0);
    // The correct Dirichlet KL is never negative; the reference sign can be (≈ −0.86 near α ≈ 1.41, N = 4).
    assert.ok(dirichletKl(tf.fill([4], 1.41), 1, true).dataSync()[0]! < -0.8);
    assert.ok(dirichletKl(tf.fill([4], 1.41), 1).dataSync()[0]! >= 0);
    close(cooperativeLoss(tf.tensor1d([0.25, 0.25, 0.25, 0.25])).dataSync()[0]!, 0.25);
  });

  test('KL terms over stacked layers equal the sum of the per-layer terms', () => {
    const a1 = [0.5, 1, 2, 3];
    const a2 = [1.5, 0.7, 4, 1];
    close(
      dirichletKl(tf.tensor2d([a1, a2]), 1).dataSync()[0]!,
      dirichletKl(tf.tensor1d(a1), 1).dataSync()[0]! + dirichletKl(tf.tensor1d(a2), 1).dataSync()[0]!,
    );
    close(
      wishartKl(
        tf.tensor2d([
          [0, 0.5, -0.5],
          [0.1, 0.2, 0.3],
        ]),
      ).dataSync()[0]!,
      1.62924 + wishartKl(tf.tensor1d([0.1, 0.2, 0.3])).dataSync()[0]!,
    );
  });

  test('logistic-normal μ and v reproduce the spec test vector', () => {
    const { mu, v } = logisticNormalParameters(tf.tensor1d([1, 2, 4, 8]));
    values(mu).forEach((m, i) => close(m, [-1.03972, -0.34657, 0.34657, 1.03972][i]!));
    values(v).forEach((m, i) => close(m, [0.61719, 0.36719, 0.24219, 0.17969][i]!));
  });
});

test('χ²_r draws have mean r and variance 2r (20,000 draws, within 3 standard errors)', () => {
  for (const r of [1, 4, 8]) {
    const draws = chiSquareDraws(new Rng(r), 20000, r);
    const n = draws.length;
    const mean = draws.reduce((a, b) => a + b, 0) / n;
    const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
    assert.ok(Math.abs(mean - r) < 3 * Math.sqrt((2 * r) / n), `mean ${mean} for r=${r}`);
    // The sample variance of χ²_r has variance (2σ⁴/(n−1) + κ₄/n) with κ₄ = 48r for χ²_r.
    const varianceError = Math.sqrt((2 * (2 * r) ** 2) / (n - 1) + (48 * r) / n);
    assert.ok(Math.abs(variance - 2 * r) < 3 * varianceError, `variance ${variance} for r=${r}`);
  }
});

test('mixture weights lie on the simplex and respond to p', () => {
  const rng = new Rng(9);
  for (let i = 0; i < 200; i++) {
    const w = values(mixtureWeights(tf.tensor1d(rng.uniformArray(4)), tf.tensor1d(rng.normalArray(4))));
    assert.ok(w.every((x) => x > 0));
    close(
      w.reduce((a, b) => a + b, 0),
      1,
      1e-6,
    );
  }
  // A larger concentration for component 3 makes it heavier on average.
  let heavy = 0;
  for (let i = 0; i < 2000; i++)
    heavy += values(mixtureWeights(tf.tensor1d([0, 0, 0, 2]), tf.tensor1d(rng.normalArray(4))))[3]!;
  assert.ok(heavy / 2000 > 0.4);
});

test('the buffer serves each draw once, refilling every `size` draws, from the seed', () => {
  const shape = shapeOf(config({ components: 2, r: 2 }), 3);
  const a = new NoiseBuffer(new Rng(1), 3, shape);
  const b = new NoiseBuffer(new Rng(1), 3, shape);
  const seen = new Set<string>();
  for (let i = 0; i < 7; i++) {
    const draw = a.next();
    assert.deepEqual(draw, b.next());
    const key = Array.from(draw.gaussian).join(',');
    assert.ok(!seen.has(key), 'a draw was reused');
    seen.add(key);
    assert.equal(draw.gaussian.length, 12);
  }
  assert.equal(a.served, 7);
});

test('the perturbation has the covariance its construction implies: Var = ε²·Σ_jj·Σ_n w_n²', () => {
  // Fixed s = 0 and fixed χ² draw c, so Σ = c; fixed mixture noise, so w is fixed; only Z_g varies.
  const cfg = config({ sampleScaler: 0.1, dropout: 0 });
  const rng = new Rng(3);
  const c = new Float32Array([0.5, 2, 4, 8]);
  const mixture = new Float32Array([0.3, -0.2, 1.1, 0]);
  const layer = new MonteCloraLayer(6, 5, cfg, rng, () => ({
    ...drawLayerNoise(rng, shapeOf(cfg, 6)),
    chiSquare: c,
    mixture,
  }));
  layer.priors.s.assign(tf.zeros([1, 4]));
  const w = values(mixtureWeights(layer.priors.p, tf.tensor2d(mixture, [1, 4])));
  const sumW2 = w.reduce((a, b) => a + b * b, 0);
  const a0 = values(layer.loraA);
  const sums = new Float64Array(4);
  const draws = 20000;
  for (let i = 0; i < draws; i++) {
    const perturbed = tf.tidy(() =>
      values((layer as unknown as { downProjection(c: object): Tensor2D }).downProjection({ training: true })),
    );
    perturbed.forEach((value, k) => (sums[k % 4] += (value - a0[k]!) ** 2));
  }
  for (let j = 0; j < 4; j++) {
    const empirical = sums[j]! / (draws * 6);
    const expected = 0.01 * Math.max(c[j]!, 1e-3) * sumW2;
    // Each column averages 6·20,000 squared normals: relative standard error √(2/120000) ≈ 0.4%.
    assert.ok(Math.abs(empirical / expected - 1) < 0.02, `column ${j}: ${empirical} vs ${expected}`);
  }
});

onEachBackend(() => {
  /** A layer with fixed noise, random B (so A has a gradient), and its training loss as a function of its tensors. */
  function fixture(overrides: Partial<MonteCloraConfig> = {}) {
    const cfg = config({ dropout: 0, sampleScaler: 0.5, ...overrides });
    const rng = new Rng(21);
    const noise = drawLayerNoise(new Rng(22), shapeOf(cfg, 6));
    const layer = new MonteCloraLayer(6, 5, cfg, rng, () => noise);
    layer.loraB.assign(tf.tensor2d(new Rng(23).normalArray(cfg.r * 5), [cfg.r, 5]));
    const x = tf.tensor2d(new Rng(24).normalArray(3 * 6), [3, 6]);
    const upstream = tf.tensor2d(new Rng(25).normalArray(3 * 5), [3, 5]);
    const loss = () => {
      const y = layer.forward(x, tf.zeros([3, 5]), { training: true });
      return tf.add(tf.sum(tf.mul(y, upstream)), layer.regularizer()!) as tf.Scalar;
    };
    return { layer, loss };
  }

  for (const [label, variant] of [
    ['logistic-normal weights', {}],
    ['exact Dirichlet weights', { mixtureWeights: 'dirichlet' }],
    ['M = 3 outer samples', { outerSamples: 3 }],
  ] as [string, Partial<MonteCloraConfig>][])
    test(`with fixed noise, autodiff gradients of A, B, s and p agree with central differences (${label})`, () => {
      const { layer, loss } = fixture({ klWeight: 0.1, ...variant });
      const variables = [layer.loraA, layer.loraB, layer.priors.s, layer.priors.p];
      const { grads } = tf.variableGrads(loss, variables);
      const h = 1e-2;
      for (const variable of variables) {
        const analytic = values(grads[variable.name]!);
        const base = values(variable);
        for (const index of [0, Math.floor(base.length / 2), base.length - 1]) {
          const shifted = (delta: number) => {
            const copy = Float32Array.from(base);
            copy[index] += delta;
            variable.assign(tf.tensor(copy, variable.shape));
            return tf.tidy(() => loss().dataSync()[0]!);
          };
          const numeric = (shifted(h) - shifted(-h)) / (2 * h);
          variable.assign(tf.tensor(base, variable.shape));
          assert.ok(
            Math.abs(numeric - analytic[index]!) < 2e-2 * Math.max(1, Math.abs(numeric)),
            `${index}: ${numeric} vs ${analytic[index]}`,
          );
        }
      }
    });

  test('by default A, s and p all receive gradients; detachPerturbedA cuts A; freezePriors freezes s and p', () => {
    const norms = (overrides: Partial<MonteCloraConfig>) => {
      const { layer, loss } = fixture(overrides);
      const trainable = layer.variables().filter((v) => v.trainable);
      const { grads } = tf.variableGrads(loss, trainable);
      const norm = (v: tf.Variable) => (grads[v.name] === undefined ? 0 : tf.norm(grads[v.name]!).dataSync()[0]!);
      return {
        a: norm(layer.loraA),
        s: norm(layer.priors.s),
        p: norm(layer.priors.p),
        trainable: trainable.length,
        layer,
      };
    };
    const defaults = norms({});
    assert.ok(defaults.a > 0 && defaults.s > 0 && defaults.p > 0);
    const detached = norms({ detachPerturbedA: true });
    assert.equal(detached.a, 0);
    const frozen = norms({ freezePriors: true });
    assert.equal(frozen.trainable, 2);
    assert.ok(!frozen.layer.priors.s.trainable && !frozen.layer.priors.p.trainable);
  });

  test('detachPerturbedA makes A random-walk by the sampled perturbation', () => {
    const { layer } = fixture({ detachPerturbedA: true, sampleScaler: 0.1 });
    const before = values(layer.loraA);
    tf.tidy(() => layer.forward(tf.ones([1, 6]), tf.zeros([1, 5]), { training: true }));
    const after = values(layer.loraA);
    assert.ok(after.some((v, i) => v !== before[i]));
  });

  test('eval mode is deterministic plain LoRA with the learned mean', () => {
    const { layer } = fixture();
    const x = tf.tensor2d(new Rng(4).normalArray(12), [2, 6]);
    const y1 = values(layer.forward(x, tf.zeros([2, 5]), { training: false }));
    const y2 = values(layer.forward(x, tf.zeros([2, 5]), { training: false }));
    assert.deepEqual(y1, y2);
    const plain = values(
      tf.mul(
        tf.matMul(tf.matMul(x, layer.loraA as unknown as Tensor2D), layer.loraB as unknown as Tensor2D),
        layer.scaling,
      ),
    );
    plain.forEach((v, i) => close(y1[i]!, v, 1e-5));
    assert.equal(layer.regularizer(), undefined);
  });
});

test('presets: monteclora follows the paper, monteclora-reference turns on all four switches', () => {
  const paper = loadPreset('monteclora').adapterConfig as MonteCloraConfig;
  assert.deepEqual(
    [paper.doubleScale, paper.detachPerturbedA, paper.freezePriors, paper.dirichletKlReferenceSign],
    [false, false, false, false],
  );
  assert.equal(paper.components, 4);
  assert.equal(paper.sampleScaler, 5e-3);
  const reference = loadPreset('monteclora-reference').adapterConfig as MonteCloraConfig;
  assert.deepEqual(
    [reference.doubleScale, reference.detachPerturbedA, reference.freezePriors, reference.dirichletKlReferenceSign],
    [true, true, true, true],
  );
  assert.throws(
    () => parseMonteCloraConfig({ monteclora_n: 4 }, 'p.json'),
    /Unknown key "monteclora_n" in the "adapter" section of p\.json/,
  );
});
