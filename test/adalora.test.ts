import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, type Variable } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { padBatch } from '../src/models/tokenizers/padding.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { adaLoraMethod, orthogonalityRegularizer } from '../src/peft/adalora/index.js';
import { parseAdaLoraConfig } from '../src/peft/adalora/config.js';
import { budgetAt, keepMasks, kthSmallest } from '../src/peft/adalora/budget.js';
import { RankAllocator } from '../src/peft/adalora/rank-allocator.js';
import { AdaLoraLayer } from '../src/peft/adalora/layer.js';
import {
  adaLoraLayers,
  loadAdaLoraAdapter,
  mergeAdaLora,
  saveAdaLoraAdapter,
} from '../src/peft/adalora/peft-format.js';
import { fineTune } from '../src/train/fine-tune.js';
import { maxAbsDifference, useTestBackend, withoutLeaks } from './helpers.js';

await useTestBackend();

const config = parseAdaLoraConfig(
  { initR: 6, targetR: 3, alpha: 8, targetModules: ['q_proj', 'v_proj'], beta1: 0.85, beta2: 0.85 },
  'test',
);

test('budget schedule: full budget to tinit, cubic decrease, target in the final phase (hand-computed)', () => {
  const schedule = { initialBudget: 24, targetBudget: 16, tinit: 0, tfinal: 0, deltaT: 1, totalSteps: 10 };
  assert.deepEqual(budgetAt(0, schedule), { budget: 24, mask: false });
  // 8·0.9³ + 16 = 21.832 → 21; 8·0.5³ + 16 = 17; 8·0.1³ + 16 = 16.008 → 16.
  assert.deepEqual(budgetAt(1, schedule), { budget: 21, mask: true });
  assert.deepEqual(budgetAt(5, schedule), { budget: 17, mask: true });
  assert.deepEqual(budgetAt(9, schedule), { budget: 16, mask: true });
  const phased = { ...schedule, tinit: 2, tfinal: 3, deltaT: 2 };
  assert.deepEqual(budgetAt(2, phased), { budget: 24, mask: false });
  // (3 − 2)/(10 − 3 − 2) = 0.2 → 8·0.8³ + 16 = 20.096 → 20, step 3 is odd: no reallocation.
  assert.deepEqual(budgetAt(3, phased), { budget: 20, mask: false });
  assert.deepEqual(budgetAt(8, phased), { budget: 16, mask: true });
});

test('triplets at or below the k-th smallest score are pruned, across layers', () => {
  assert.equal(kthSmallest([5, 1, 4, 2], 2), 2);
  assert.throws(() => kthSmallest([1], 0), RangeError);
  assert.deepEqual(
    keepMasks(
      [
        [0.5, 0.1, 0.9],
        [0.2, 0.7, 0.3],
      ],
      6,
      3,
    ),
    [
      [true, false, true],
      [false, true, false],
    ],
  );
  assert.deepEqual(keepMasks([[1, 2]], 2, 2), [[true, true]]);
});

test('the layer adds B·diag(E)·A·x·α/(r_init + 1e-5); merging gives the same logits', () => {
  const { model, tokenizer } = loadModel('builtin:tiny');
  model.addClassificationHead(2);
  const batch = padBatch(
    ['a fine film', 'dull'].map((t) => tokenizer.encode(t)),
    tokenizer.padId,
  );
  const base = tf.tidy(() => model.classify(batch, EVAL_CONTEXT).dataSync());
  const adapter = adaLoraMethod.apply(model, config, new Rng(4));
  // E = 0 at initialisation: the adapted model is the base model.
  assert.equal(
    maxAbsDifference(
      base,
      tf.tidy(() => model.classify(batch, EVAL_CONTEXT).dataSync()),
    ),
    0,
  );
  const layers = adaLoraLayers(model);
  assert.equal(layers.length, 2 * model.layers.length);
  const rng = new Rng(9);
  layers.forEach(({ layer }) => layer.loraE.assign(tf.tensor1d(rng.normalArray(6))));
  const adapted = tf.tidy(() => model.classify(batch, EVAL_CONTEXT).dataSync());
  assert.ok(maxAbsDifference(base, adapted) > 1e-4);
  // One layer's update against a plain-JS product: x·(A⊙E)·B·scale.
  const { layer } = layers[0]!;
  const x = tf.tensor2d(rng.normalArray(layer.loraA.shape[0]!), [1, layer.loraA.shape[0]!]);
  const zero = tf.zeros([1, layer.loraB.shape[1]!]);
  const y = tf.tidy(() => layer.forward(x, zero, EVAL_CONTEXT).dataSync());
  const [a, b, e, xv] = [
    layer.loraA.arraySync() as number[][],
    layer.loraB.arraySync() as number[][],
    layer.loraE.dataSync(),
    x.dataSync(),
  ];
  const expected = b[0]!.map((_, o) => {
    let sum = 0;
    for (let i = 0; i < 6; i++) {
      let ax = 0;
      for (let k = 0; k < xv.length; k++) ax += xv[k]! * a[k]![i]!;
      sum += ax * e[i]! * b[i]![o]!;
    }
    return (sum * 8) / (6 + 1e-5);
  });
  assert.ok(maxAbsDifference(y, expected) < 1e-5);
  tf.dispose([x, zero]);
  mergeAdaLora(model);
  adapter.dispose();
  const merged = tf.tidy(() => model.classify(batch, EVAL_CONTEXT).dataSync());
  assert.ok(maxAbsDifference(adapted, merged) < 1e-4, `merged differs by ${maxAbsDifference(adapted, merged)}`);
  model.dispose();
});

test('orthogonality regulariser: γ · mean of the unsquared Frobenius residuals of AAᵀ and BᵀB', () => {
  const layer = new AdaLoraLayer(5, 4, 3, 3, 8, 0, new Rng(2));
  const residual = (m: number[][]) => {
    // m is r × r
    let sum = 0;
    m.forEach((row, i) => row.forEach((v, j) => (sum += (v - (i === j ? 1 : 0)) ** 2)));
    return Math.sqrt(sum);
  };
  const gram = (rows: number[][]) => rows.map((p) => rows.map((q) => p.reduce((s, v, k) => s + v * q[k]!, 0)));
  const a = layer.loraA.arraySync() as number[][]; // [in, r]: PEFT's A is its transpose
  const b = layer.loraB.arraySync() as number[][]; // [r, out]
  const aRows = a[0]!.map((_, i) => a.map((row) => row[i]!)); // PEFT's A rows
  const expected = (0.5 * (residual(gram(aRows)) + residual(gram(b)))) / 2;
  const value = tf.tidy(() => orthogonalityRegularizer([layer], 0.5).dataSync()[0]!);
  assert.ok(Math.abs(value - expected) < 1e-5, `${value} vs ${expected}`);
  layer.variables().forEach((v) => v.dispose());
});

test('importance: EMA of |θ·∇θ| and its uncertainty give the triplet scores PEFT computes', async () => {
  const layer = new AdaLoraLayer(3, 2, 2, 2, 8, 0, new Rng(5));
  layer.loraE.assign(tf.tensor1d([0.5, -1]));
  const allocator = new RankAllocator([layer], { ...config, initR: 2, targetR: 1 });
  const gradientsAt = (scale: number) =>
    new Map<Variable, tf.Tensor>(layer.variables().map((v) => [v, tf.mul(tf.onesLike(v), scale)]));
  const snapshot = layer.variables().map((v) => Array.from(v.dataSync()));
  const g1 = gradientsAt(1);
  // totalSteps 100: step 1 is global step 0 ≤ tinit, so importance updates and nothing is masked yet.
  allocator.afterStep({ step: 1, totalSteps: 100, gradients: g1 });
  const g2 = gradientsAt(-2);
  allocator.afterStep({ step: 2, totalSteps: 100, gradients: g2 });
  tf.dispose([...g1.values(), ...g2.values()]);
  // By hand: I_t = |θ|·|g_t|; Ī₁ = 0.15 I₁; Ū₁ = 0.15|I₁ − Ī₁|; Ī₂ = 0.85 Ī₁ + 0.15 I₂; Ū₂ = 0.85 Ū₁ + 0.15|I₂ − Ī₂|.
  const score = snapshot.map((values) =>
    values.map((theta) => {
      const i1 = Math.abs(theta);
      const i2 = 2 * Math.abs(theta);
      const avg1 = 0.15 * i1;
      const unc1 = 0.15 * Math.abs(i1 - avg1);
      const avg2 = 0.85 * avg1 + 0.15 * i2;
      const unc2 = 0.85 * unc1 + 0.15 * Math.abs(i2 - avg2);
      return avg2 * unc2;
    }),
  );
  const [a, b, e] = score as [number[], number[], number[]];
  // A [in=3, r=2] row-major: column i is a[i], a[2+i], a[4+i]; B [r=2, out=2]: row i is b[2i], b[2i+1].
  const expected = [0, 1].map((i) => e[i]! + (a[i]! + a[2 + i]! + a[4 + i]!) / 3 + (b[2 * i]! + b[2 * i + 1]!) / 2);
  assert.ok(maxAbsDifference((await allocator.tripletScores())[0]!, expected) < 1e-7);
  allocator.dispose();
  layer.variables().forEach((v) => v.dispose());
});

test('training prunes to the target budget, logs it, leaks nothing; save → load keeps the pruned adapter exactly', async () => {
  const { model, tokenizer } = loadModel('builtin:tiny');
  model.addClassificationHead(2);
  const rng = new Rng(11);
  const texts = ['good', 'bad', 'great film', 'awful film', 'fine', 'dull', 'superb', 'poor'];
  const examples = texts.map((text, i) => ({ ids: tokenizer.encode(text), label: i % 2 === 0 ? 1 : 0 }));
  const adapter = adaLoraMethod.apply(model, config, rng.fork('adapter'));
  const {
    value: result,
    before,
    after,
  } = await withoutLeaks(() =>
    fineTune({
      model,
      groups: [...adapter.groups, { name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 }],
      examples,
      learningRate: 0.01,
      batchSize: 4,
      epochs: 3,
      weightDecay: 0,
      warmupRatio: 0,
      maxGradNorm: 1,
      rng: rng.fork('train'),
      hooks: adapter,
    }),
  );
  const layers = adaLoraLayers(model);
  // What stays is the allocator's state: an importance average and uncertainty per A, B and E (freed by dispose).
  assert.equal(after - before, layers.length * 3 * 2);
  const budgets = result.log.map((entry) => entry['rank_budget']!);
  assert.equal(budgets[0], 6 * layers.length);
  assert.equal(budgets.at(-1), 3 * layers.length);
  assert.ok(budgets.every((value, i) => i === 0 || value <= budgets[i - 1]!));
  const kept = layers.reduce((n, { layer }) => n + layer.keptTriplets!.filter(Boolean).length, 0);
  assert.equal(kept, 3 * layers.length);
  for (const { layer } of layers) {
    const e = layer.loraE.dataSync();
    layer.keptTriplets!.forEach((keep, i) => keep || assert.ok(e[i] === 0, `pruned E = ${e[i]}`));
  }
  const batch = padBatch(
    texts.map((t) => tokenizer.encode(t)),
    tokenizer.padId,
  );
  const trained = tf.tidy(() => model.classify(batch, EVAL_CONTEXT).dataSync());
  const dir = mkdtempSync(join(tmpdir(), 'mceval-adalora-'));
  try {
    saveAdaLoraAdapter(model, config, dir, result.steps);
    const saved = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(saved.peft_type, 'ADALORA');
    assert.equal(saved.total_step, result.steps);
    assert.deepEqual(saved.rank_pattern[`${layers[0]!.linear.name}.lora_E`], layers[0]!.layer.keptTriplets);
    adapter.dispose();
    const { adapter: loaded } = loadAdaLoraAdapter(model, dir);
    const reloaded = adaLoraLayers(model);
    assert.equal(
      reloaded.reduce((n, { layer }) => n + layer.rank, 0),
      3 * layers.length,
    );
    const again = tf.tidy(() => model.classify(batch, EVAL_CONTEXT).dataSync());
    assert.ok(maxAbsDifference(trained, again) < 1e-6, `reloaded differs by ${maxAbsDifference(trained, again)}`);
    loaded.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    model.dispose();
  }
});
