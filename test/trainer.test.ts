import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { loraMethod } from '../src/peft/lora/index.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { fineTune, type EncodedExample } from '../src/train/fine-tune.js';
import { linearScheduleMultiplier, warmupSteps } from '../src/train/schedule.js';
import { AdamW } from '../src/train/adamw.js';
import { ADAMW_UPDATE } from '../src/engine/kernels/adamw-update.js';
import { epochBatches } from '../src/train/batches.js';
import { adamwFixture, adamwSteps, onEachBackend } from './helpers.js';
import { assertHeldUpdates } from './adamw-hold.js';

/** A separable toy set: label 1 iff the text contains "yes". */
function toyExamples(encode: (text: string) => number[]): EncodedExample[] {
  const rng = new Rng(11);
  return Array.from({ length: 48 }, () => {
    const label = rng.integer(2);
    const filler = ['the', 'a', 'one', 'this'][rng.integer(4)]!;
    return { ids: encode(`${filler} ${label === 1 ? 'yes' : 'no'} ${filler}`), label };
  });
}

onEachBackend(() => {
  test("AdamW's hold: the same bits where the step before's numbers are finite, nothing changed where one is not", () =>
    assertHeldUpdates());

  test('training lowers the loss and leaves no tensor behind', async () => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    const rng = new Rng(5);
    model.addClassificationHead(2);
    const adapter = loraMethod.apply(
      model,
      parseLoraConfig({ r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'] }, 't'),
      rng.fork('a'),
    );
    const examples = toyExamples((text) => tokenizer.encode(text));
    const before = tf.memory().numTensors;
    const losses: number[] = [];
    const result = await fineTune({
      model,
      groups: [...adapter.groups, { name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 }],
      examples,
      learningRate: 0.01,
      batchSize: 8,
      epochs: 4,
      weightDecay: 0.01,
      warmupRatio: 0.1,
      maxGradNorm: 1,
      rng: rng.fork('train'),
      onStep: (progress) => losses.push(progress.loss),
    });
    assert.equal(tf.memory().numTensors, before, 'a training run leaked tensors');
    assert.equal(result.steps, 24);
    assert.equal(result.diverged, false);
    assert.equal(result.epochLosses.length, 4);
    assert.ok(result.epochLosses[3]! < 0.5 * result.epochLosses[0]!, `loss went ${result.epochLosses.join(' → ')}`);
    adapter.dispose();
    model.dispose();
  });

  test('a loss that stays above 4× its start stops the run as diverged, with the step', async () => {
    const run = async (divergence?: { factor: number; patience: number }) => {
      const { model, tokenizer } = loadModel('builtin:tiny');
      model.addClassificationHead(2);
      const adapter = loraMethod.apply(model, parseLoraConfig({ r: 4, alpha: 8 }, 't'), new Rng(1));
      const before = tf.memory().numTensors;
      const result = await fineTune({
        model,
        groups: [...adapter.groups, { name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 }],
        examples: toyExamples((text) => tokenizer.encode(text)),
        learningRate: 50,
        batchSize: 8,
        epochs: 4,
        weightDecay: 0,
        warmupRatio: 0,
        maxGradNorm: 1,
        rng: new Rng(2),
        ...(divergence === undefined ? {} : { divergence }),
      });
      assert.equal(tf.memory().numTensors, before);
      adapter.dispose();
      model.dispose();
      return result;
    };
    const watched = await run({ factor: 4, patience: 5 });
    assert.equal(watched.diverged, true);
    assert.ok(watched.divergedAtStep !== undefined && watched.divergedAtStep < 24);
    assert.equal(watched.steps, watched.divergedAtStep);
    const first = watched.log[0]!.loss;
    // The last `patience` steps were all above 4× the first step's loss.
    assert.ok(watched.log.slice(-5).every((entry) => entry.loss > 4 * first));
    // Without the rule the same run trains on through its exploded (finite) losses to the end.
    const unwatched = await run();
    assert.equal(unwatched.diverged, false);
    assert.equal(unwatched.steps, 24);
    assert.ok(unwatched.log.some((entry) => entry.loss > 100 * first));
  });

  test('a diverging run stops and says so', async () => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    model.addClassificationHead(2);
    const adapter = loraMethod.apply(model, parseLoraConfig({ r: 4, alpha: 8 }, 't'), new Rng(1));
    const before = tf.memory().numTensors;
    const result = await fineTune({
      model,
      groups: [{ name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 }],
      examples: toyExamples((text) => tokenizer.encode(text)),
      learningRate: 3e38,
      batchSize: 8,
      epochs: 3,
      weightDecay: 0,
      warmupRatio: 0,
      maxGradNorm: 0,
      rng: new Rng(2),
    });
    assert.equal(result.diverged, true);
    assert.ok(result.steps < 18);
    assert.equal(tf.memory().numTensors, before);
    adapter.dispose();
    model.dispose();
  });

  test('linear schedule with warm-up matches transformers (hand-computed)', () => {
    // total 10, warm-up 2: 0, 0.5, then (10 − s) / 8.
    const values = Array.from({ length: 11 }, (_, s) => linearScheduleMultiplier(s, 10, 2));
    assert.deepEqual(values, [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0]);
    assert.equal(warmupSteps(90, 0.06), 6); // ceil(5.4)
  });

  test('AdamW follows torch.optim.AdamW for two steps (hand-computed)', () => {
    const p = tf.variable(tf.tensor1d([1, -2]), true);
    const optimizer = new AdamW([{ name: 'p', variables: [p], learningRateMultiplier: 2 }], { weightDecay: 0.1 });
    const g1 = tf.tensor1d([0.5, -1]);
    optimizer.apply([g1], 0.05); // effective lr 0.1
    // step 1: m = 0.1g, v = 0.001g², m̂/√v̂ = sign(g) (ε negligible); p ← p(1 − 0.01) − 0.1·sign(g)
    const after1 = Array.from(p.dataSync());
    assert.ok(Math.abs(after1[0]! - (0.99 - 0.1)) < 1e-6);
    assert.ok(Math.abs(after1[1]! - (-1.98 + 0.1)) < 1e-6);
    const g2 = tf.tensor1d([0.25, 0]);
    optimizer.apply([g2], 0.05);
    // step 2, first element: m = 0.9·0.05 + 0.1·0.25 = 0.07; v = 0.999·0.00025 + 0.001·0.0625 = 0.00031225
    // m̂ = 0.07 / 0.19; √v̂ = √(0.00031225 / 0.001999); p = 0.89·0.99 − 0.1·m̂/√v̂
    const mHat = 0.07 / 0.19;
    const vHat = 0.00031225 / (1 - 0.999 ** 2);
    const expected = 0.89 * 0.99 - (0.1 * mHat) / (Math.sqrt(vHat) + 1e-8);
    assert.ok(Math.abs(p.dataSync()[0]! - expected) < 1e-5, `${p.dataSync()[0]} vs ${expected}`);
    optimizer.dispose();
    [p, g1, g2].forEach((t) => t.dispose());
  });

  test('AdamW updates small parameters together exactly as one by one, per group and step count', () => {
    const rng = new Rng(5);
    const shapes = [[3, 2], [4], [2, 2], [300, 300]];
    const initial = shapes.map((shape) => rng.normalArray(shape.reduce((a, b) => a * b, 1)));
    const groups = (variables: tf.Variable[]) => [
      { name: 'a', variables: variables.slice(0, 2), learningRateMultiplier: 1 },
      { name: 'b', variables: variables.slice(2), learningRateMultiplier: 4 },
    ];
    const together = initial.map((values, i) => tf.variable(tf.tensor(values, shapes[i]), true));
    const alone = initial.map((values, i) => tf.variable(tf.tensor(values, shapes[i]), true));
    const grouped = new AdamW(groups(together), { weightDecay: 0.1 });
    // One optimiser per parameter: nothing to group with.
    const separate = alone.map(
      (p) =>
        new AdamW(
          groups(alone)
            .filter((g) => g.variables.includes(p))
            .map((g) => ({ ...g, variables: [p] })),
          { weightDecay: 0.1 },
        ),
    );
    for (let step = 0; step < 3; step++) {
      const gradients = shapes.map((shape, i) =>
        step === 1 && i === 1 ? undefined : tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape),
      );
      grouped.apply(gradients, 0.01);
      separate.forEach((optimizer, i) => optimizer.apply([gradients[i]], 0.01));
      gradients.forEach((g) => g?.dispose());
    }
    together.forEach((p, i) => assert.deepEqual(p.dataSync(), alone[i]!.dataSync(), `parameter ${i}`));
    [grouped, ...separate].forEach((o) => o.dispose());
    [...together, ...alone].forEach((t) => t.dispose());
  });

  test('the one-kernel AdamW update gives the tfjs ops’ values bit for bit, in one moment bank or three', async () => {
    for (const bank of [undefined, 1000]) {
      await oneKernelAgainstOps(bank);
    }
  });

  /**
   * Four steps of the kernel and of the ops from the same values. With banks of 1,000 values the moments take three:
   * the first two parameters (517 values) share one, the last two are larger and have one each.
   */
  async function oneKernelAgainstOps(momentBankElements: number | undefined): Promise<void> {
    const rng = new Rng(8);
    const shapes = [[64, 8], [5], [8, 172], [600, 500]];
    const initial = shapes.map((shape) => rng.normalArray(shape.reduce((a, b) => a * b, 1)));
    // Registered on both host backends, so this compares the kernel with the ops.
    assert.ok(tf.getKernel(ADAMW_UPDATE, tf.getBackend()) !== undefined);
    const fused = adamwFixture(shapes, initial, true, momentBankElements);
    const banks = new Set((fused.optimizer as unknown as { slots: { m: unknown }[] }).slots.map((slot) => slot.m));
    assert.equal(banks.size, momentBankElements === undefined ? 1 : 3);
    const composed = adamwFixture(shapes, initial, false);
    const before = tf.memory().numTensors;
    await adamwSteps([fused, composed], shapes, rng);
    assert.equal(tf.memory().numTensors, before);
    fused.variables.forEach((p, i) => {
      assert.deepEqual(p.dataSync(), composed.variables[i]!.dataSync(), `parameter ${i}`);
      assert.notDeepEqual(p.dataSync(), Float32Array.from(initial[i]!), `parameter ${i} moved`);
    });
    [fused, composed].forEach(({ optimizer, variables }) => {
      optimizer.dispose();
      variables.forEach((v) => v.dispose());
    });
  }

  test('epoch batches cover every example once, shuffled by the seed', () => {
    const batches = epochBatches(10, 4, new Rng(3));
    assert.deepEqual(
      batches.map((b) => b.length),
      [4, 4, 2],
    );
    assert.deepEqual(
      batches.flat().sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.deepEqual(epochBatches(10, 4, new Rng(3)), batches);
    assert.notDeepEqual(epochBatches(10, 4, new Rng(4)), batches);
  });
});

test('gradient accumulation: 2 or 4 micro-batches give the loss, gradient norm and weights of the whole batch', async () => {
  // Tensors left after each run: the same every time (the first run also fills the engine's one-time caches).
  const remaining: number[] = [];
  // `targetless`: how many of the first rows lose every target token (targetStart at their end).
  const run = async (objective: 'classification' | 'causal-lm', gradientAccumulation: number, targetless = 0) => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    if (objective === 'classification') model.addClassificationHead(2);
    const adapter = loraMethod.apply(model, parseLoraConfig({ r: 4, alpha: 8, dropout: 0 }, 't'), new Rng(1));
    // Rows of different lengths and, for the causal-LM objective, different numbers of target tokens.
    const examples = toyExamples((text) => tokenizer.encode(text)).map((example, i) => {
      const ids = [...example.ids, ...tokenizer.encode(' x'.repeat(i % 5))];
      return { ...example, ids, targetStart: i < targetless ? ids.length : 2 + (i % 3) };
    });
    const result = await fineTune({
      model,
      groups: [
        ...adapter.groups,
        ...(objective === 'classification'
          ? [{ name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 }]
          : []),
      ],
      examples: examples.slice(0, targetless > 0 ? 8 : 16),
      objective,
      learningRate: 0.01,
      batchSize: 8,
      epochs: 1,
      weightDecay: 0.01,
      warmupRatio: 0,
      maxGradNorm: 1,
      rng: new Rng(2),
      gradientAccumulation,
    });
    const weights = adapter.groups.flatMap((group) => group.variables.flatMap((v) => Array.from(v.dataSync())));
    adapter.dispose();
    model.dispose();
    remaining.push(tf.memory().numTensors);
    return { result, weights };
  };
  for (const objective of ['classification', 'causal-lm'] as const) {
    const whole = await run(objective, 1);
    for (const parts of [2, 4]) {
      const accumulated = await run(objective, parts);
      accumulated.result.log.forEach((entry, i) => {
        const reference = whole.result.log[i]!;
        assert.ok(
          Math.abs(entry.loss - reference.loss) < 1e-5,
          `${objective}/${parts}: loss ${entry.loss} vs ${reference.loss}`,
        );
        assert.ok(Math.abs(entry.grad_norm - reference.grad_norm) < 1e-5, `${objective}/${parts}: gradient norm`);
      });
      const worst = Math.max(...accumulated.weights.map((w, i) => Math.abs(w - whole.weights[i]!)));
      assert.ok(worst < 1e-5, `${objective}/${parts}: weights differ by ${worst}`);
      assert.equal(accumulated.result.steps, whole.result.steps);
    }
  }
  // One batch of 8 rows, 6 of them without a target: of 4 micro-batches of 2, at least 2 have no loss term at all.
  const whole = await run('causal-lm', 1, 6);
  const accumulated = await run('causal-lm', 4, 6);
  assert.ok(Number.isFinite(accumulated.result.log[0]!.loss), 'targetless micro-batches: finite loss');
  assert.ok(Math.abs(accumulated.result.log[0]!.loss - whole.result.log[0]!.loss) < 1e-5, 'targetless: loss');
  const worst = Math.max(...accumulated.weights.map((w, i) => Math.abs(w - whole.weights[i]!)));
  assert.ok(worst < 1e-5, `targetless micro-batches: weights differ by ${worst}`);
  assert.ok(
    remaining.every((count) => count === remaining[0]),
    `tensors left: ${remaining}`,
  );
});
