/**
 * DoRA's layer (peft/lora/dora.ts) against PEFT's DoRA forward written out literally with tfjs ops — y = W₀x + b +
 * (c − 1) ⊙ W₀x_d + c ⊙ s·(x_d·A)·B, c = m / ‖W₀ + s·A·B‖ per output with the norm a constant, x_d = x under the
 * same dropout mask (drawn from the same seed) — in training with dropout (the op split at its dropout, W₀x_r + b + c ⊙
 * v; also three layers reading one x as one op, each with its own mask), without (the fused op with a column scale,
 * the residual added inside), over a trainable base (tfjs's products), and in evaluation: outputs and the gradients of
 * x, A, B, m (and W where it trains) within 1e-5 of the largest value. The peft-dora golden test checks the no-dropout
 * form against PEFT itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor, type Tensor2D } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { Linear } from '../src/models/layers/linear.js';
import { DoraLayer } from '../src/peft/lora/dora.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { drawDropout, keepMask } from '../src/engine/ops/dropout.js';
import type { ForwardContext } from '../src/models/forward-context.js';
import { ForwardConstants } from '../src/models/forward-constants.js';
import { maxAbsDifference, onEachBackend } from './helpers.js';

const [IN, OUT, ROWS] = [37, 29, 6];

interface Case {
  readonly dropout: number;
  readonly training: boolean;
  readonly trainableBase?: boolean;
  readonly bias?: boolean;
  readonly residual?: boolean;
  /** Layers reading the same x (Linear.forwardShared, a decoder's q, k and v); 1 by default, through forward. */
  readonly layers?: number;
  /** The pass shares a call's constants (as a training step's do): the layers' norms are formed together. */
  readonly shared?: boolean;
}

/** The layers' outputs and gradients, then the literal formula's, from the same seeds. */
function compare(c: Case): void {
  const { dropout, training, trainableBase = false, bias = false, residual = false, layers: count = 1, shared } = c;
  const before = tf.memory().numTensors;
  const rng = new Rng(21);
  const normal = (shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
  // A variable made from a tensor or set to one shares its buffer: the tensor itself is disposed.
  const variable = (t: Tensor, trainable: boolean) => {
    const made = tf.variable(t, trainable);
    t.dispose();
    return made;
  };
  const set = (target: tf.Variable, t: Tensor) => {
    target.assign(t);
    t.dispose();
  };
  const config = parseLoraConfig({ r: 3, alpha: 6, dropout, targetModules: ['x'] }, 't');
  const made = Array.from({ length: count }, (_, l) => {
    const weight = variable(normal([IN, OUT + l]), trainableBase);
    const biasVariable = bias ? variable(normal([OUT + l]), false) : undefined;
    const linear = new Linear(`test.proj${l}`, weight, biasVariable);
    const layer = new DoraLayer(linear, config, rng);
    linear.adapter = layer;
    // B starts at zero (the output is the base's): a random B and m make every term count.
    set(
      layer.loraB,
      tf.tidy(() => tf.mul(normal([3, OUT + l]), 0.5)),
    );
    set(
      layer.magnitude,
      tf.tidy(() => tf.add(tf.abs(normal([OUT + l])), 0.5)),
    );
    return { weight, biasVariable, linear, layer };
  });
  // The layers' norms are formed together, as an adapter's are (loraMethod sets the group).
  made.forEach(({ layer }) => (layer.normGroup = made.map((m) => m.layer)));
  const constants = shared === true ? new ForwardConstants() : undefined;
  const shape = [2, ROWS / 2];
  const x = variable(normal([...shape, IN]), true);
  const stream = residual ? normal([...shape, OUT]) : undefined;
  const dys = made.map((_, l) => normal([...shape, OUT + l]));
  // One generator for the pass: each layer draws its mask in turn, in forwardShared as here.
  const context = (): ForwardContext => ({
    training,
    rng: new Rng(5),
    ...(constants === undefined ? {} : { constants }),
  });
  const variables = [
    x,
    ...made.flatMap(({ weight, layer }) => [
      layer.loraA,
      layer.loraB,
      layer.magnitude,
      ...(trainableBase ? [weight] : []),
    ]),
  ];
  const loss = (ys: Tensor[]) =>
    tf.addN(ys.map((y, l) => tf.sum(tf.mul(stream === undefined ? y : tf.add(stream, y), dys[l]!)))) as tf.Scalar;

  const actual = tf.variableGrads(() => {
    if (count === 1) return tf.sum(tf.mul(made[0]!.linear.forward(x, context(), stream), dys[0]!)) as tf.Scalar;
    const outputs = Linear.forwardShared(
      made.map(({ linear }) => linear),
      x,
      context(),
    );
    return tf.addN(outputs.map((y, l) => tf.sum(tf.mul(y, dys[l]!)))) as tf.Scalar;
  }, variables);
  // The norm is a constant, as PEFT detaches it.
  const norms = made.map(({ weight, layer }) =>
    tf.tidy(() =>
      tf.norm(
        tf.add(weight, tf.mul(tf.matMul(layer.loraA as Tensor2D, layer.loraB as Tensor2D), layer.scaling)),
        'euclidean',
        0,
      ),
    ),
  );
  const expected = tf.variableGrads(() => {
    const rngOfPass = context().rng;
    const product = (t: Tensor, matrix: Tensor) =>
      tf.reshape(tf.matMul(tf.reshape(t, [-1, t.shape.at(-1)!]), matrix as Tensor2D), [...shape, -1]);
    const ys = made.map(({ weight, biasVariable, layer }, l) => {
      const drawn = training ? drawDropout(dropout, rngOfPass) : undefined;
      const dropped = drawn === undefined ? x : tf.mul(x, keepMask(x.shape, drawn));
      const c = tf.div(layer.magnitude, norms[l]!);
      const base = biasVariable === undefined ? product(x, weight) : tf.add(product(x, weight), biasVariable);
      const low = tf.mul(product(product(dropped, layer.loraA), layer.loraB), layer.scaling);
      return tf.add(base, tf.add(tf.mul(tf.sub(c, 1), product(dropped, weight)), tf.mul(c, low)));
    });
    return loss(ys);
  }, variables);
  const labels = [
    'dx',
    ...made.flatMap((_, l) => ['dA', 'dB', 'dm', ...(trainableBase ? ['dW'] : [])].map((g) => `${g} ${l}`)),
  ];
  const pairs: [string, Tensor, Tensor][] = [
    ['loss', actual.value, expected.value],
    ...variables.map((v, i): [string, Tensor, Tensor] => [labels[i]!, actual.grads[v.name]!, expected.grads[v.name]!]),
  ];
  for (const [label, actual, reference] of pairs) {
    const [a, r] = [actual.dataSync(), reference.dataSync()];
    const scale = Math.max(...Array.from(r, Math.abs));
    assert.ok(scale > 0, `${label}: the reference is zero`);
    assert.ok(maxAbsDifference(a, r) <= 1e-5 * scale, `${label}: differs by ${maxAbsDifference(a, r)} of ${scale}`);
  }
  tf.dispose([actual.value, expected.value, ...Object.values(actual.grads), ...Object.values(expected.grads)]);
  tf.dispose([...norms, ...dys, ...(stream === undefined ? [] : [stream])]);
  [
    x,
    ...made.flatMap(({ weight, biasVariable, layer }) => [
      weight,
      layer.loraA,
      layer.loraB,
      layer.magnitude,
      ...(biasVariable === undefined ? [] : [biasVariable]),
    ]),
  ].forEach((v) => v.dispose());
  constants?.dispose();
  assert.equal(tf.memory().numTensors, before, 'a tensor outlived the comparison');
}

onEachBackend(() => {
  test("DoRA under dropout (W₀x_r + b + c ⊙ v) equals PEFT's sum, with a bias and a residual", () =>
    compare({ dropout: 0.3, training: true, bias: true, residual: true }));
  test("three DoRA layers reading one x under dropout, as one op, each equal PEFT's sum, with biases", () =>
    compare({ dropout: 0.3, training: true, bias: true, layers: 3 }));
  test("three DoRA layers sharing a call's constants (their norms formed together) each equal PEFT's sum", () =>
    compare({ dropout: 0, training: true, layers: 3, shared: true }));
  test("DoRA under dropout equals PEFT's sum, without a bias", () => compare({ dropout: 0.3, training: true }));
  test("DoRA without dropout (the column-scaled op, the residual inside) equals PEFT's sum", () =>
    compare({ dropout: 0, training: true, residual: true }));
  test("DoRA in evaluation equals PEFT's sum without dropout, with a bias", () =>
    compare({ dropout: 0.3, training: false, bias: true }));
  test("DoRA over a trainable base equals PEFT's sum, W's gradient included", () =>
    compare({ dropout: 0.3, training: true, trainableBase: true }));
});
