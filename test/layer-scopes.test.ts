/**
 * Off the tape an evaluation pass runs each decoder or encoder layer in a scope of its own (models/layer-scopes.ts):
 * the tensors alive as a layer begins its MLP's last product do not grow with the layers before it (a scoring pass
 * keeps none of theirs; a pass that returns its KV cache keeps their keys and values). On the tape every layer's
 * intermediates stay for the backward pass, and a training pass keeps them off it too. Either way nothing is left
 * behind, and the hidden states are the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor, type Variable } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { padBatch, positionIds } from '../src/models/tokenizers/padding.js';
import type { Linear } from '../src/models/layers/linear.js';
import { EncoderModel } from '../src/models/encoder/model.js';
import { randomWeightInit } from '../src/models/init.js';
import { tinyEncoderConfig } from './tiny-encoder.js';
import { useTestBackend } from './helpers.js';

/** The live tensors as each of `linears` (one per layer) runs its `method`, while `body` runs. */
function tensorsPerMlp<T>(
  linears: readonly Linear[],
  method: 'forward' | 'forwardGated',
  body: () => T,
): { value: T; counts: number[] } {
  const counts: number[] = [];
  const originals = linears.map((linear) => linear[method]);
  linears.forEach((linear, i) => {
    linear[method] = ((...args: unknown[]) => {
      counts.push(tf.memory().numTensors);
      return (originals[i] as (...a: unknown[]) => unknown).apply(linear, args);
    }) as never;
  });
  try {
    return { value: body(), counts };
  } finally {
    linears.forEach((linear, i) => (linear[method] = originals[i] as never));
  }
}

/**
 * How many more tensors are alive at each layer than at the one before, from the second layer on (the first's scope
 * leaves what the pass makes once, such as the attention bias).
 */
const growth = (counts: readonly number[]) => counts.slice(2).map((count, i) => count - counts[i + 1]!);

test('off the tape each decoder layer runs in its own scope; on the tape the intermediates stay', async () => {
  await useTestBackend();
  const before = tf.memory().numTensors;
  const { model, tokenizer } = loadModel('builtin:small');
  const downs = model.layers.map((layer) => layer.down);
  const tensorsPerLayer = <T>(body: () => T) => tensorsPerMlp(downs, 'forwardGated', body);
  try {
    const batch = padBatch(
      ['once upon a time', 'the cat sat on the mat'].map((text) => tokenizer.encode(text)),
      model.config.padTokenId,
    );
    const scored = tensorsPerLayer(() => tf.tidy(() => model.hiddenStates(batch, EVAL_CONTEXT)));
    assert.equal(scored.counts.length, model.layers.length);
    assert.deepEqual(growth(scored.counts), [0, 0]);

    const input = {
      batchSize: batch.batchSize,
      length: batch.length,
      ids: batch.ids,
      positions: positionIds(batch),
      keyMask: batch.mask,
    };
    const cached = tensorsPerLayer(() =>
      tf.tidy(() => {
        const { hidden, cache } = model.decode(input, EVAL_CONTEXT, { returnCache: true });
        return [hidden, ...cache!.keys, ...cache!.values];
      }),
    );
    // Each layer before keeps its keys and values.
    assert.deepEqual(growth(cached.counts), [2, 2]);
    assert.deepEqual(Array.from(cached.value[0]!.dataSync()), Array.from(scored.value.dataSync()));

    // A frozen weight made trainable for the test, so that the pass is recorded.
    const variable: Variable = model.layers[0]!.inputNorm;
    variable.trainable = true;
    const taped = tensorsPerLayer(() =>
      tf.variableGrads(() => tf.sum(model.hiddenStates(batch, EVAL_CONTEXT)), [variable]),
    );
    variable.trainable = false;
    assert.ok(
      growth(taped.counts).every((added) => added > 10),
      `on the tape: ${growth(taped.counts).join(', ')}`,
    );
    // A training pass off the tape keeps them too: its draws outlive it (MonteCLoRA's samples, for its regulariser).
    const training = tensorsPerLayer(() =>
      tf.tidy(() => model.hiddenStates(batch, { training: true, rng: new Rng(1) })),
    );
    assert.ok(
      growth(training.counts).every((added) => added > 10),
      `training: ${growth(training.counts).join(', ')}`,
    );
    tf.dispose([
      scored.value,
      ...cached.value,
      taped.value.value,
      ...Object.values(taped.value.grads),
      training.value,
    ] as Tensor[]);
  } finally {
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});

test('off the tape each encoder layer runs in its own scope; a training pass keeps the intermediates', async () => {
  await useTestBackend();
  const before = tf.memory().numTensors;
  const model = new EncoderModel(
    { ...tinyEncoderConfig('bert'), numHiddenLayers: 4 },
    randomWeightInit(new Rng(1), 0.2),
  );
  const outputs = model.layers.map((layer) => layer.output);
  try {
    const batch = {
      batchSize: 2,
      length: 5,
      ids: Int32Array.from([2, 5, 6, 7, 3, 2, 8, 9, 3, 0]),
      mask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 0]),
    };
    const evaluated = tensorsPerMlp(outputs, 'forward', () => tf.tidy(() => model.hiddenStates(batch, EVAL_CONTEXT)));
    assert.equal(evaluated.counts.length, 4);
    assert.deepEqual(growth(evaluated.counts), [0, 0]);
    const training = tensorsPerMlp(outputs, 'forward', () =>
      tf.tidy(() => model.hiddenStates(batch, { training: true, rng: new Rng(2) })),
    );
    assert.ok(
      growth(training.counts).every((added) => added > 10),
      `training: ${growth(training.counts).join(', ')}`,
    );
    tf.dispose([evaluated.value, training.value]);
  } finally {
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});
