import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor, type Tensor2D, type Tensor3D } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { linear, frozenLinear, linearTransposedWeight } from '../src/engine/ops/linear.js';
import { rowCrossEntropy } from '../src/engine/ops/cross-entropy.js';
import { batchMatMul } from '../src/engine/ops/batch-matmul.js';
import { lowRankLinear, lowRankLinears } from '../src/engine/ops/low-rank-linear.js';
import { transposedProduct } from '../src/engine/ops/transposed-product.js';
import { dropoutMask } from '../src/engine/ops/dropout.js';
import { keepMaskReference, keepThreshold } from '../src/engine/dropout-bits.js';
import { drawKey } from '../src/engine/counter-hash.js';
import { scatterAddRows } from '../src/engine/kernels/unsorted-segment-sum.js';
import { referenceMatmul, relativeFrobeniusError } from '../src/engine/selfcheck.js';
import { addEach } from '../src/engine/ops/add-each.js';
import { gatherRows } from '../src/engine/ops/gather-rows.js';
import { maxAbsDifference, onEachBackend } from './helpers.js';

const rng = new Rng(99);
const random = (shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);

onEachBackend(() => {
  test('scatter-add sums rows into segments and drops out-of-range ids (hand-computed)', () => {
    const out = scatterAddRows([1, 2, 3, 4, 5, 6], [2, 0, 2], 3, 2);
    assert.deepEqual(Array.from(out), [3, 4, 0, 0, 6, 8]);
    assert.deepEqual(Array.from(scatterAddRows([1, 2], [-1, 5], 2, 1)), [0, 0]);
  });

  test('gatherRows gives tf.gather’s rows and gradient, bit for bit, for distinct and repeated rows', () => {
    const x = random([6, 5]) as Tensor2D;
    const before = tf.memory().numTensors;
    for (const rows of [[4, 0, 5, 2], [3], [1, 4, 1, 0]]) {
      const dy = random([rows.length, 5]);
      // The rows and the gradient of Σ rows ⊙ dy.
      const run = (pick: (input: Tensor2D) => Tensor2D) =>
        tf.tidy(() => {
          const gradient = tf.grad((input: Tensor) => tf.sum(tf.mul(pick(input as Tensor2D), dy)))(x);
          return [pick(x).dataSync(), gradient.dataSync()];
        });
      const [values, gradient] = run((input) => gatherRows(input, rows));
      const [expectedValues, expectedGradient] = run(
        (input) => tf.gather(input, tf.tensor1d(rows, 'int32')) as Tensor2D,
      );
      assert.deepEqual(Array.from(values!), Array.from(expectedValues!));
      assert.deepEqual(Array.from(gradient!), Array.from(expectedGradient!), `rows ${rows}`);
      dy.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });

  test('the gradient of gather (an embedding) runs through the registered kernel', () => {
    const table = tf.variable(random([5, 3]), true);
    const before = tf.memory().numTensors;
    const gradient = tf.tidy(() => {
      const { grads } = tf.variableGrads(() => tf.sum(tf.gather(table, tf.tensor1d([4, 1, 4, 0], 'int32'))), [table]);
      return grads[table.name]!.dataSync();
    });
    // Each row's gradient is its number of occurrences: rows 0, 1 once, row 4 twice, rows 2, 3 never.
    assert.deepEqual(Array.from(gradient), [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2, 2, 2]);
    assert.equal(tf.memory().numTensors, before);
    table.dispose();
  });

  test('linear and frozenLinear match matMul and its default gradient', () => {
    const x = random([2, 3, 4]);
    const w = random([4, 5]) as Tensor2D;
    const upstream = random([2, 3, 5]);
    const loss = (f: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(f(a, b), upstream));
    const reference = tf.grads(loss((a, b) => tf.reshape(tf.matMul(tf.reshape(a, [6, 4]), b as Tensor2D), [2, 3, 5])))([
      x,
      w,
    ]);
    const custom = tf.grads(loss((a, b) => linear(a, b as Tensor2D)))([x, w]);
    assert.ok(maxAbsDifference(reference[0]!.dataSync(), custom[0]!.dataSync()) < 1e-5);
    assert.ok(maxAbsDifference(reference[1]!.dataSync(), custom[1]!.dataSync()) < 1e-5);
    const frozen = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(frozenLinear(a, w), upstream)))(x);
    assert.ok(maxAbsDifference(reference[0]!.dataSync(), frozen.dataSync()) < 1e-5);
    assert.ok(maxAbsDifference(linear(x, w).dataSync(), frozenLinear(x, w).dataSync()) === 0);
  });

  test('linearTransposedWeight (a tied head) matches matMul by the transposed weight and its default gradient', () => {
    const x = random([2, 3, 4]);
    const w = random([5, 4]) as Tensor2D; // [out, in], as an embedding [vocab, hidden] is stored
    const upstream = random([2, 3, 5]);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const weigh = (y: tf.Tensor) => tf.sum(tf.mul(y, upstream));
      const composed = (a: tf.Tensor, b: tf.Tensor) =>
        tf.reshape(tf.matMul(tf.reshape(a, [6, 4]), tf.transpose(b as Tensor2D)), [2, 3, 5]);
      const reference = tf.grads((a: tf.Tensor, b: tf.Tensor) => weigh(composed(a, b)))([x, w]);
      const trainable = tf.grads((a: tf.Tensor, b: tf.Tensor) => weigh(linearTransposedWeight(a, b as Tensor2D, true)))(
        [x, w],
      );
      const frozen = tf.grad((a: tf.Tensor) => weigh(linearTransposedWeight(a, w, false)))(x);
      assert.deepEqual(linearTransposedWeight(x, w, false).shape, [2, 3, 5]);
      assert.ok(maxAbsDifference(linearTransposedWeight(x, w, true).dataSync(), composed(x, w).dataSync()) < 1e-6);
      assert.ok(maxAbsDifference(trainable[0]!.dataSync(), reference[0]!.dataSync()) < 1e-5, 'input, trainable');
      assert.ok(maxAbsDifference(trainable[1]!.dataSync(), reference[1]!.dataSync()) < 1e-5, 'weight');
      assert.ok(maxAbsDifference(frozen.dataSync(), reference[0]!.dataSync()) < 1e-5, 'input, frozen');
    });
    assert.equal(tf.memory().numTensors, before);
  });

  test('rowCrossEntropy: logsumexp(z) − z[label] and its gradient dy·(softmax − one-hot), against float64', () => {
    // Rows far apart in scale: a large logit (100) would overflow exp without the max subtracted.
    const values = [
      [2, -1, 0.5, 3],
      [100, 99, -50, 0],
      [-3, -3, -3, -3],
    ];
    const labels = [3, 1, 0];
    const weights = [0.5, -2, 1.25];
    const reference = values.map((row, r) => {
      const max = Math.max(...row);
      const total = row.reduce((sum, z) => sum + Math.exp(z - max), 0);
      const lse = max + Math.log(total);
      const gradient = row.map((z, c) => weights[r]! * (Math.exp(z - lse) - (c === labels[r] ? 1 : 0)));
      return { loss: lse - row[labels[r]!]!, gradient };
    });
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const logits = tf.tensor2d(values);
      const losses = rowCrossEntropy(logits, labels).dataSync();
      reference.forEach(({ loss }, r) => assert.ok(Math.abs(losses[r]! - loss) < 1e-5 * Math.max(1, loss), `row ${r}`));
      const gradient = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(rowCrossEntropy(z as Tensor2D, labels), weights)))(
        logits,
      );
      assert.ok(
        maxAbsDifference(
          gradient.dataSync(),
          reference.flatMap((row) => row.gradient),
        ) < 1e-6,
      );
      assert.throws(() => rowCrossEntropy(logits, [0, 1]), /2 labels for 3 rows/);
    });
    assert.equal(tf.memory().numTensors, before);
  });

  test("lowRankLinear: the composed layer's values bit for bit, and its gradients; with a residual added", () => {
    const x = random([2, 3, 6]);
    const w = random([6, 5]) as Tensor2D;
    const bias = random([5]);
    const a = random([6, 2]) as Tensor2D;
    const b = random([2, 5]) as Tensor2D;
    // The op makes the dropout's mask from its key; the composed layer multiplies by the same mask, made by the
    // reference loop.
    const dropout = { key: drawKey(7), threshold: keepThreshold(0.9), scale: 1 / 0.9 };
    const mask = tf.tensor(keepMaskReference(dropout.key, dropout.threshold, dropout.scale, 36), [2, 3, 6]);
    const upstream = random([2, 3, 5]);
    const composed = (input: tf.Tensor, down: tf.Tensor, up: tf.Tensor) =>
      tf.add(
        tf.add(frozenLinear(input, w), bias),
        tf.mul(linear(linear(tf.mul(input, mask), down as Tensor2D), up as Tensor2D), 0.75),
      );
    const fused = (input: tf.Tensor, down: tf.Tensor, up: tf.Tensor) =>
      lowRankLinear(input, w, bias, { a: down as Tensor2D, b: up as Tensor2D, scaling: 0.75, dropout });
    const residual = random([2, 3, 5]);
    const composedPlus = (input: tf.Tensor, down: tf.Tensor, up: tf.Tensor, stream: tf.Tensor) =>
      tf.add(stream, composed(input, down, up));
    const fusedPlus = (input: tf.Tensor, down: tf.Tensor, up: tf.Tensor, stream: tf.Tensor) =>
      lowRankLinear(input, w, bias, { a: down as Tensor2D, b: up as Tensor2D, scaling: 0.75, dropout }, stream);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      assert.equal(maxAbsDifference(fused(x, a, b).dataSync(), composed(x, a, b).dataSync()), 0);
      assert.equal(
        maxAbsDifference(fusedPlus(x, a, b, residual).dataSync(), composedPlus(x, a, b, residual).dataSync()),
        0,
      );
      type Layer = (...inputs: tf.Tensor[]) => tf.Tensor;
      const weigh =
        (f: Layer) =>
        (...inputs: tf.Tensor[]) =>
          tf.sum(tf.mul(f(...inputs), upstream));
      const gradientsAgree = (candidate: Layer, reference: Layer, inputs: tf.Tensor[]) => {
        const expected = tf.grads(weigh(reference))(inputs);
        tf.grads(weigh(candidate))(inputs).forEach((g, i) =>
          assert.ok(maxAbsDifference(g.dataSync(), expected[i]!.dataSync()) < 1e-5, `gradient ${i}`),
        );
      };
      gradientsAgree(fused as Layer, composed as Layer, [x, a, b]);
      gradientsAgree(fusedPlus as Layer, composedPlus as Layer, [x, a, b, residual]);
    });
    assert.equal(tf.memory().numTensors, before);
  });

  test('lowRankLinears: layers reading one x give, bit for bit, the values and gradients of separate layers', () => {
    // Three layers as a decoder's q, k, v (one with dropout, one with a perturbation and a bias), and a residual
    // added to one: x's gradient is their sum, in the order tfjs's tape adds separate layers' (last layer first).
    const x = random([2, 3, 6]);
    const dropout = { key: drawKey(8), threshold: keepThreshold(0.8), scale: 1 / 0.8 };
    const weights = [random([6, 5]), random([6, 4]), random([6, 5])] as Tensor2D[];
    const bias = random([4]);
    const residual = random([2, 3, 5]);
    const upstreams = [random([2, 3, 5]), random([2, 3, 4]), random([2, 3, 5])];
    // Inputs: x, then A, B per layer, the second's perturbation, the residual.
    const inputs = [x, random([6, 2]), random([2, 5]), random([6, 2]), random([2, 4]), random([6, 2]), random([2, 5])];
    inputs.push(random([6, 2]), residual);
    const layers = (t: tf.Tensor[]) => [
      { weight: weights[0]!, update: { a: t[1] as Tensor2D, b: t[2] as Tensor2D, scaling: 0.5, dropout } },
      {
        weight: weights[1]!,
        bias,
        update: { a: t[3] as Tensor2D, b: t[4] as Tensor2D, scaling: 2, perturbation: t[7] as Tensor2D },
      },
      { weight: weights[2]!, update: { a: t[5] as Tensor2D, b: t[6] as Tensor2D, scaling: 1 }, residual: t[8] },
    ];
    const weigh = (outputs: tf.Tensor[]) => tf.addN(outputs.map((output, l) => tf.sum(tf.mul(output, upstreams[l]!))));
    const grouped = (...t: tf.Tensor[]) => weigh(lowRankLinears(t[0]!, layers(t)));
    const separate = (...t: tf.Tensor[]) =>
      weigh(layers(t).map((layer) => lowRankLinear(t[0]!, layer.weight, layer.bias, layer.update, layer.residual)));
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const expected = tf.grads(separate)(inputs);
      tf.grads(grouped)(inputs).forEach((g, i) =>
        assert.equal(maxAbsDifference(g.dataSync(), expected[i]!.dataSync()), 0, `gradient ${i}`),
      );
      lowRankLinears(x, layers(inputs)).forEach((output, l) => {
        const { weight, bias: b, update, residual: r } = layers(inputs)[l]!;
        assert.equal(maxAbsDifference(output.dataSync(), lowRankLinear(x, weight, b, update, r).dataSync()), 0);
      });
    });
    assert.equal(tf.memory().numTensors, before);
  });

  test('transposedProduct: pᵀ·q to 1e-5 relative error of a float64 product, edge tiles and token blocks included', () => {
    // Tokens past a 64-row block, rows past a 4-row tile, columns past an 8-wide tile and results narrower than one.
    for (const [tokens, m, n] of [
      [130, 8, 172],
      [67, 5, 19],
      [64, 64, 8],
      [3, 2, 5],
    ] as const) {
      const p = rng.normalArray(tokens * m);
      const q = rng.normalArray(tokens * n);
      const pT = new Float32Array(m * tokens).map((_, at) => p[(at % tokens) * m + Math.floor(at / tokens)]!);
      const expected = referenceMatmul(pT, q, m, tokens, n);
      const before = tf.memory().numTensors;
      const actual = tf.tidy(() =>
        transposedProduct(tf.tensor2d(p, [tokens, m]), tf.tensor2d(q, [tokens, n])).dataSync(),
      );
      assert.equal(tf.memory().numTensors, before);
      assert.ok(relativeFrobeniusError(actual, expected) < 1e-5, `${tokens}×${m}, ${tokens}×${n}`);
    }
  });

  test('lowRankLinear at rank 8: gradients through the transposed-product kernel match autodiff', () => {
    const x = random([3, 40, 12]);
    const w = random([12, 16]) as Tensor2D;
    const a = random([12, 8]) as Tensor2D;
    const b = random([8, 16]) as Tensor2D;
    const upstream = random([3, 40, 16]);
    const composed = (input: tf.Tensor, down: tf.Tensor, up: tf.Tensor) =>
      tf.add(frozenLinear(input, w), tf.mul(linear(linear(input, down as Tensor2D), up as Tensor2D), 2));
    const fused = (input: tf.Tensor, down: tf.Tensor, up: tf.Tensor) =>
      lowRankLinear(input, w, undefined, { a: down as Tensor2D, b: up as Tensor2D, scaling: 2 });
    tf.tidy(() => {
      const weigh = (f: typeof fused) => (p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) =>
        tf.sum(tf.mul(f(p, q, r), upstream));
      const expected = tf.grads(weigh(composed))([x, a, b]);
      tf.grads(weigh(fused))([x, a, b]).forEach((g, i) =>
        assert.ok(relativeFrobeniusError(g.dataSync(), expected[i]!.dataSync()) < 1e-5, `gradient ${i}`),
      );
    });
  });

  test('dropout masks are the hashed masks keyed by one seeded draw each, written whole into reused memory', () => {
    const expectedRng = new Rng(5);
    const maskRng = new Rng(5);
    const before = tf.memory().numTensors;
    for (const shape of [
      [7, 300],
      [3, 5],
      [7, 300],
    ]) {
      const size = shape[0]! * shape[1]!;
      // Every element is written: the second [7, 300] mask reuses the first one's heap memory on wasm.
      const key = drawKey(expectedRng.nextUint32());
      const expected = keepMaskReference(key, keepThreshold(0.9), 1 / 0.9, size);
      const mask = dropoutMask(shape, 0.1, maskRng)!;
      assert.deepEqual(mask.dataSync(), expected);
      assert.deepEqual(mask.shape, shape);
      mask.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });

  test('batchMatMul matches matMul and its default gradient', () => {
    const a = random([3, 4, 5]) as Tensor3D;
    const b = random([3, 5, 2]) as Tensor3D;
    const upstream = random([3, 4, 2]);
    const reference = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(tf.matMul(x as Tensor3D, y as Tensor3D), upstream)),
    )([a, b]);
    const custom = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(batchMatMul(x as Tensor3D, y as Tensor3D), upstream)),
    )([a, b]);
    assert.ok(maxAbsDifference(reference[0]!.dataSync(), custom[0]!.dataSync()) < 1e-5);
    assert.ok(maxAbsDifference(reference[1]!.dataSync(), custom[1]!.dataSync()) < 1e-5);
  });

  test("addEach: each sum plus its term, tfjs's Add's values; mismatched lists or shapes refused", () => {
    const sums = [random([3, 4]), random([5])];
    const terms = [random([3, 4]), random([5])];
    const expected = sums.map((sum, k) => tf.add(sum, terms[k]!).dataSync());
    const results = addEach(sums, terms);
    results.forEach((result, k) => assert.deepEqual(result.dataSync(), expected[k]));
    assert.deepEqual(addEach([], []), []);
    assert.throws(() => addEach(sums, terms.slice(1)), /2 sums for 1 terms/);
    assert.throws(() => addEach([sums[0]!], [random([4, 3])]), /sum 0 is shaped \[3,4\], its term \[4,3\]/);
  });

  test('the backend matmul agrees with the float64 reference to 1e-5 relative error', () => {
    const a = rng.normalArray(64 * 48);
    const b = rng.normalArray(48 * 32);
    const product = tf.matMul(tf.tensor2d(a, [64, 48]), tf.tensor2d(b, [48, 32])).dataSync();
    assert.ok(relativeFrobeniusError(product, referenceMatmul(a, b, 64, 48, 32)) < 1e-5);
    assert.deepEqual(
      Array.from(referenceMatmul(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), 2, 2, 2)),
      [19, 22, 43, 50],
    );
  });
});
