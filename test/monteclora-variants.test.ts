/**
 * MonteCLoRA's options beyond the default estimator: exact Dirichlet weights (Gamma quantiles, implicit
 * reparameterisation), the two-level estimator (M > 1), the paper's ablations (sparse mixture, random Dirichlet
 * prior, post-hoc mode), and saving/loading in PEFT's layout with the extra tensors.
 * Reference values: scipy 1.17.1 (gammaln, gammainc, gammaincinv), written beside each.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, type Tensor, type Tensor2D } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { gammaQuantile, gammaSampleShapeDerivative, regularizedLowerGamma } from '../src/peft/monteclora/gamma.js';
import {
  deviceDigamma,
  deviceLgamma,
  digammaOf,
  logGamma,
  trigammaOf,
} from '../src/peft/monteclora/special-functions.js';
import { dirichletWeights } from '../src/peft/monteclora/dirichlet-sampler.js';
import { drawLayerNoise, type LayerNoise } from '../src/peft/monteclora/noise.js';
import { meanRegularizer, MonteCloraLayer } from '../src/peft/monteclora/layer.js';
import { parseMonteCloraConfig, type MonteCloraConfig } from '../src/peft/monteclora/config.js';
import { dirichletKl } from '../src/peft/monteclora/kl.js';
import { concentration } from '../src/peft/monteclora/mixture-weights.js';
import { monteCloraMethod } from '../src/peft/monteclora/index.js';
import { loadMonteCloraAdapter, saveMonteCloraAdapter } from '../src/peft/monteclora/peft-format.js';
import { loadLoraAdapter } from '../src/peft/lora/peft-format.js';
import { loadModel } from '../src/models/load.js';
import { padBatch } from '../src/models/tokenizers/padding.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { fineTune } from '../src/train/fine-tune.js';
import { maxAbsDifference, useTestBackend } from './helpers.js';

await useTestBackend();

const values = (t: Tensor) => Array.from(t.dataSync());
const config = (overrides: Record<string, unknown> = {}): MonteCloraConfig =>
  parseMonteCloraConfig({ r: 4, alpha: 8, dropout: 0, ...overrides }, 'test');
const shapeOf = (cfg: MonteCloraConfig, inFeatures: number) => ({
  components: cfg.components,
  inFeatures,
  rank: cfg.r,
  outerSamples: cfg.outerSamples,
  mixture: cfg.mixtureWeights === 'dirichlet' ? ('uniform' as const) : ('normal' as const),
});
const downProjection = (layer: MonteCloraLayer) =>
  (layer as unknown as { downProjection(c: object): Tensor2D }).downProjection({ training: true });

test('Gamma functions in float64 match scipy', () => {
  // scipy.special.gammaln(0.1) = 2.252712651734206, gammaln(40) = 106.63176026064345
  assert.ok(Math.abs(logGamma(0.1) - 2.252712651734206) < 1e-12);
  assert.ok(Math.abs(logGamma(40) - 106.63176026064345) < 1e-10);
  // scipy.special.gammainc(2.5, 1.7) = 0.36143007689620493; gammainc(0.3, 4.0) = 0.9979774893543891
  assert.ok(Math.abs(regularizedLowerGamma(2.5, 1.7) - 0.36143007689620493) < 1e-12);
  assert.ok(Math.abs(regularizedLowerGamma(0.3, 4) - 0.9979774893543891) < 1e-12);
  // P(1, x) = 1 − e^{−x}, exactly.
  assert.ok(Math.abs(regularizedLowerGamma(1, 0.7) - (1 - Math.exp(-0.7))) < 1e-14);
  // scipy.special.gammaincinv(2.5, 0.3) = 1.4999540663799533
  assert.ok(Math.abs(gammaQuantile(2.5, 0.3) - 1.4999540663799533) < 1e-9);
  for (const a of [0.05, 0.3, 1, 2.7, 30]) {
    for (const u of [1e-6, 0.01, 0.5, 0.99, 1 - 1e-6]) {
      const x = gammaQuantile(a, u);
      assert.ok(Math.abs(regularizedLowerGamma(a, x) - u) < 1e-9 * Math.max(1, 1 / u), `a=${a} u=${u} x=${x}`);
    }
  }
  // Implicit derivative = the derivative of the quantile at fixed u.
  for (const [a, u] of [
    [0.4, 0.2],
    [1.7, 0.6],
    [9, 0.95],
  ] as const) {
    const h = 1e-5;
    const numeric = (gammaQuantile(a + h, u) - gammaQuantile(a - h, u)) / (2 * h);
    const implicit = gammaSampleShapeDerivative(a, gammaQuantile(a, u));
    assert.ok(Math.abs(numeric - implicit) < 1e-5 * Math.max(1, Math.abs(numeric)), `${numeric} vs ${implicit}`);
  }
});

test('exact Dirichlet weights: on the simplex, Dirichlet mean and variance over 20,000 draws (3 standard errors)', () => {
  const alpha = [0.5, 1, 2, 3];
  const total = 6.5;
  const draws = 20_000;
  const rng = new Rng(31);
  const w = tf.tidy(() => dirichletWeights(tf.tensor1d(alpha), rng.uniformArray(draws * 4)).dataSync());
  const sums = new Float64Array(4);
  const squares = new Float64Array(4);
  for (let i = 0; i < draws; i++) {
    let rowSum = 0;
    for (let k = 0; k < 4; k++) {
      const value = w[i * 4 + k]!;
      assert.ok(value >= 0);
      rowSum += value;
      sums[k] += value;
      squares[k] += value * value;
    }
    assert.ok(Math.abs(rowSum - 1) < 1e-5);
  }
  alpha.forEach((a, k) => {
    const mean = a / total;
    const variance = (a * (total - a)) / (total * total * (total + 1));
    assert.ok(Math.abs(sums[k]! / draws - mean) < 3 * Math.sqrt(variance / draws), `mean of w_${k}`);
    const empiricalVariance = squares[k]! / draws - (sums[k]! / draws) ** 2;
    // The sample variance's standard error is at most ~√(2/n)·σ² for these light-tailed weights; 4σ leaves margin
    // for their kurtosis.
    assert.ok(Math.abs(empiricalVariance / variance - 1) < 4 * Math.sqrt(2 / draws) * 2, `variance of w_${k}`);
  });
});

test('exact Dirichlet weights: the implicit gradient in α equals central differences at fixed uniforms', () => {
  const uniforms = new Rng(4).uniformArray(3 * 4);
  const alpha = [0.3, 1.2, 2.5, 4];
  const upstream = new Rng(5).normalArray(12);
  const objective = (a: number[]) =>
    tf.tidy(() => tf.sum(tf.mul(dirichletWeights(tf.tensor1d(a), uniforms), tf.tensor2d(upstream, [3, 4]))));
  const analytic = tf.tidy(() =>
    values(
      tf.grad((a: Tensor) => tf.sum(tf.mul(dirichletWeights(a, uniforms), tf.tensor2d(upstream, [3, 4]))))(
        tf.tensor1d(alpha),
      ),
    ),
  );
  alpha.forEach((_, k) => {
    const h = 1e-3;
    const shifted = (delta: number) => objective(alpha.map((a, j) => (j === k ? a + delta : a))).dataSync()[0]!;
    const numeric = (shifted(h) - shifted(-h)) / (2 * h);
    assert.ok(
      Math.abs(numeric - analytic[k]!) < 2e-3 * Math.max(1, Math.abs(numeric)),
      `α_${k}: ${numeric} vs ${analytic[k]}`,
    );
  });
});

test('M outer samples: the perturbation is the mean of M single-sample perturbations', () => {
  const two = config({ outerSamples: 2, sampleScaler: 0.3 });
  const one = config({ sampleScaler: 0.3 });
  const noise = drawLayerNoise(new Rng(7), shapeOf(two, 6));
  const half = (m: number): LayerNoise => {
    const g = noise.gaussian.length / 2;
    return {
      gaussian: noise.gaussian.slice(m * g, (m + 1) * g),
      chiSquare: noise.chiSquare.slice(m * 4, (m + 1) * 4),
      mixture: noise.mixture.slice(m * 4, (m + 1) * 4),
    };
  };
  // Same seed: the same A, s and p in all three layers.
  const layer = new MonteCloraLayer(6, 5, two, new Rng(1), () => noise);
  const single = [0, 1].map((m) => new MonteCloraLayer(6, 5, one, new Rng(1), () => half(m)));
  const a = values(layer.loraA);
  // Each forward's sample lives as long as its tape (here a tidy), as the regulariser reads it in the same step.
  const run = (l: MonteCloraLayer) =>
    tf.tidy(() => ({ perturbed: values(downProjection(l)), regularizer: l.regularizer()!.dataSync()[0]! }));
  const combined = run(layer);
  const parts = single.map(run);
  const expected = a.map(
    (value, i) => value + (parts[0]!.perturbed[i]! - value + (parts[1]!.perturbed[i]! - value)) / 2,
  );
  assert.ok(maxAbsDifference(combined.perturbed, expected) < 1e-6);
  // KL_G and C are averaged over the outer samples: between the two single-sample values.
  const r2 = combined.regularizer;
  const r1 = parts.map((part) => part.regularizer);
  assert.ok(r2 >= Math.min(...r1) - 1e-7 && r2 <= Math.max(...r1) + 1e-7, `${r2} not within ${r1}`);
  [layer, ...single].forEach((l) => l.variables().forEach((v) => v.dispose()));
});

test('sparse mixture: only the most heavily weighted component perturbs A, with weight 1', () => {
  const cfg = config({ sparseMixture: true, sampleScaler: 0.2 });
  const noise = drawLayerNoise(new Rng(8), shapeOf(cfg, 6));
  const layer = new MonteCloraLayer(6, 5, cfg, new Rng(2), () => noise);
  const { perturbed, w, covariance } = tf.tidy(() => ({
    perturbed: values(downProjection(layer)),
    w: values(layer.lastSample!.weights),
    covariance: values(layer.lastSample!.covariance),
  }));
  const k = w.indexOf(Math.max(...w));
  const a = values(layer.loraA);
  const expected = a.map((value, i) => value + 0.2 * noise.gaussian[k * 24 + i]! * Math.sqrt(covariance[i % 4]!));
  assert.ok(maxAbsDifference(perturbed, expected) < 1e-6);
  layer.variables().forEach((v) => v.dispose());
});

test('random Dirichlet prior: per-layer α⁰ in (1, e), used by the Dirichlet KL', () => {
  const cfg = config({ randomDirichletPrior: true });
  const layers = [1, 2].map((seed) => new MonteCloraLayer(6, 5, cfg, new Rng(seed)));
  const priors = layers.map((l) => values(l.priors.dirichletPrior!));
  priors.flat().forEach((value) => assert.ok(value > 1 && value < Math.E));
  assert.ok(maxAbsDifference(priors[0]!, priors[1]!) > 0);
  const [layer] = layers as [MonteCloraLayer];
  // The regulariser differs from the uniform-prior one by exactly β·(KL_D(α ‖ α⁰) − KL_D(α ‖ 1)).
  const uniform = { ...cfg, randomDirichletPrior: false, dirichletPrior: 1 };
  const difference = tf.tidy(() => {
    downProjection(layer);
    return meanRegularizer([layer], cfg)!.dataSync()[0]! - meanRegularizer([layer], uniform)!.dataSync()[0]!;
  });
  const expected = tf.tidy(() => {
    const alpha = concentration(layer.priors.p);
    return (
      1e-5 * (dirichletKl(alpha, layer.priors.dirichletPrior!).dataSync()[0]! - dirichletKl(alpha, 1).dataSync()[0]!)
    );
  });
  assert.ok(Math.abs(difference - expected) < 1e-9, `${difference} vs ${expected}`);
  layers.forEach((l) => l.variables().forEach((v) => v.dispose()));
});

function tinyTask() {
  const { model, tokenizer } = loadModel('builtin:tiny');
  model.addClassificationHead(2);
  const texts = ['good', 'bad', 'great film', 'awful film', 'fine', 'dull', 'superb', 'poor'];
  const examples = texts.map((text, i) => ({ ids: tokenizer.encode(text), label: i % 2 === 0 ? 1 : 0 }));
  const batch = padBatch(
    texts.map((t) => tokenizer.encode(t)),
    tokenizer.padId,
  );
  return { model, examples, batch };
}

test('post-hoc mode: the mean trains alone first, then s and p train with the mean frozen', async () => {
  const { model, examples } = tinyTask();
  const cfg = config({ targetModules: ['q_proj', 'v_proj'], posthocMeanEpochs: 1 });
  const adapter = monteCloraMethod.apply(model, cfg, new Rng(3));
  const groups = adapter.groups.filter((g) => g.name !== 'head');
  const snapshot = () => groups.map((g) => g.variables.map((v) => values(v)));
  const changed = (before: number[][][], after: number[][][], name: string) => {
    const index = groups.findIndex((g) => g.name === name);
    return before[index]!.some((v, j) => maxAbsDifference(v, after[index]![j]!) > 0);
  };
  const states: number[][][][] = [snapshot()];
  const result = await fineTune({
    model,
    groups: [...adapter.groups, { name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 }],
    examples,
    learningRate: 0.01,
    batchSize: 4,
    epochs: 2,
    weightDecay: 0,
    warmupRatio: 0,
    maxGradNorm: 1,
    rng: new Rng(4),
    hooks: {
      ...adapter,
      regularizer: () => adapter.regularizer!(),
      stepLog: () => adapter.stepLog!(),
      beginEpoch: (epoch) => {
        if (epoch > 0) states.push(snapshot());
        adapter.beginEpoch!(epoch);
      },
    },
  });
  states.push(snapshot());
  const [start, middle, end] = states as [number[][][], number[][][], number[][][]];
  assert.ok(changed(start, middle, 'lora_A') && changed(start, middle, 'lora_B'));
  assert.ok(!changed(start, middle, 'monteclora-priors'));
  assert.ok(!changed(middle, end, 'lora_A') && !changed(middle, end, 'lora_B'));
  assert.ok(changed(middle, end, 'monteclora-priors'));
  // The first epoch logs no KL terms (nothing sampled), the second does.
  assert.equal(result.log[0]!['kl_wishart'], undefined);
  assert.ok(Number.isFinite(result.log.at(-1)!['kl_wishart']));
  adapter.dispose();
  model.dispose();
});

test("an adapter holds its layers' s, p and α⁰ as one parameter each, by input width, each row what its layer drew", () => {
  const { model } = tinyTask();
  const targetModules = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
  const cfg = config({ randomDirichletPrior: true, targetModules });
  const adapter = monteCloraMethod.apply(model, cfg, new Rng(7));
  const adapted = model.linears().filter((l) => l.adapter instanceof MonteCloraLayer);
  const priors = (adapted[0]!.adapter as MonteCloraLayer).priors;
  const L = adapted.length;
  assert.equal(L, 14);
  assert.deepEqual(
    priors.variables().map((v) => [v.shape, v.trainable]),
    [
      [[L, cfg.r], true],
      [[L, cfg.components], true],
      [[L, cfg.components], false],
    ],
  );
  assert.deepEqual(adapter.groups.find((g) => g.name === 'monteclora-priors')!.variables, [priors.s, priors.p]);
  // Rows by input width, in model order within a width (builtin:tiny: down_proj is the wider).
  const rows = adapted.map((linear) => (linear.adapter as MonteCloraLayer).priorRow);
  const narrow = adapted.filter((linear) => !linear.name.endsWith('down_proj'));
  assert.deepEqual(
    rows,
    adapted.map((linear) =>
      narrow.includes(linear)
        ? narrow.indexOf(linear)
        : narrow.length + adapted.filter((x) => !narrow.includes(x)).indexOf(linear),
    ),
  );
  adapted.forEach((linear) => {
    const layer = linear.adapter as MonteCloraLayer;
    const l = layer.priorRow;
    assert.ok(layer.priors === priors);
    // The layer the adapter made, made again on its own from the same generator.
    const alone = new MonteCloraLayer(linear.inFeatures, linear.outFeatures, cfg, new Rng(7).fork(linear.name));
    (['s', 'p', 'dirichletPrior'] as const).forEach((name) => {
      const width = priors[name]!.shape[1]!;
      assert.deepEqual(values(priors[name]!).slice(l * width, (l + 1) * width), values(alone.priors[name]!));
    });
    alone.variables().forEach((v) => v.dispose());
  });
  const before = tf.memory().numTensors;
  adapter.dispose();
  // The adapter's own tensors go with it: A and B of each layer, and the three prior parameters.
  assert.equal(before - tf.memory().numTensors, 2 * L + 3);
  model.dispose();
});

test('save → load keeps A, B, s, p (and a random prior) exactly; PEFT-style LoRA loading reads the mean', () => {
  const { model, batch } = tinyTask();
  const cfg = config({ targetModules: ['q_proj', 'v_proj'], randomDirichletPrior: true });
  const adapter = monteCloraMethod.apply(model, cfg, new Rng(5));
  const layers = () =>
    model
      .linears()
      .filter((l) => l.adapter instanceof MonteCloraLayer)
      .map((l) => l.adapter as MonteCloraLayer);
  const rng = new Rng(6);
  layers().forEach((l) =>
    l.loraB.assign(tf.tensor2d(rng.normalArray(l.loraB.size), l.loraB.shape as [number, number])),
  );
  // A and B per layer, then s, p and α⁰ (one parameter each, a row per layer).
  const tensors = () =>
    [...layers().flatMap((l) => l.variables()), ...layers()[0]!.priors.variables()].map((v) => values(v));
  const saved = tensors();
  const logits = tf.tidy(() => values(model.classify(batch, EVAL_CONTEXT)));
  const dir = mkdtempSync(join(tmpdir(), 'mceval-monteclora-'));
  try {
    saveMonteCloraAdapter(model, cfg, dir);
    assert.ok(existsSync(join(dir, 'monteclora_config.json')));
    assert.equal(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')).peft_type, 'LORA');
    adapter.dispose();
    const { adapter: loaded, config: loadedConfig } = loadMonteCloraAdapter(model, dir);
    assert.deepEqual(loadedConfig, cfg);
    const again = tensors();
    assert.equal(again.length, saved.length);
    saved.forEach((v, i) => assert.equal(maxAbsDifference(v, again[i]!), 0));
    loaded.dispose();
    // A LoRA reader (as PEFT's) ignores the extra tensors and gets the learned mean: the eval-mode model.
    const { adapter: lora } = loadLoraAdapter(model, dir);
    assert.ok(
      maxAbsDifference(
        logits,
        tf.tidy(() => values(model.classify(batch, EVAL_CONTEXT))),
      ) < 1e-6,
    );
    lora.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    model.dispose();
  }
});

test('lnΓ and ψ as device ops (for WebGPU) agree with the float64 host functions, values and gradients', () => {
  const xs = [0.01, 0.1, 0.5, 1, 2.5, 7, 30, 100];
  const before = tf.memory().numTensors;
  const values = tf.tidy(() => {
    const x = tf.tensor1d(xs);
    const read = (t: Tensor) => Array.from(t.dataSync());
    return {
      lgamma: read(deviceLgamma(x)),
      digamma: read(deviceDigamma(x)),
      dLgamma: read(tf.grad((t: Tensor) => tf.sum(deviceLgamma(t)))(x)),
      dDigamma: read(tf.grad((t: Tensor) => tf.sum(deviceDigamma(t)))(x)),
    };
  });
  assert.equal(tf.memory().numTensors, before);
  const close = (actual: number[], expected: (v: number) => number, name: string) =>
    actual.forEach((value, i) => {
      const reference = expected(xs[i]!);
      const tolerance = 2e-5 * Math.max(1, Math.abs(reference));
      assert.ok(Math.abs(value - reference) <= tolerance, `${name}(${xs[i]}): ${value} vs ${reference}`);
    });
  close(values.lgamma, logGamma, 'lnΓ');
  close(values.digamma, digammaOf, 'ψ');
  close(values.dLgamma, digammaOf, "lnΓ'");
  close(values.dDigamma, trigammaOf, "ψ'");
});
