import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { padBatch } from '../src/models/tokenizers/padding.js';
import { fullFineTuningMethod } from '../src/peft/full/index.js';
import { classificationLoss } from '../src/train/loss.js';
import { onEachBackend } from './helpers.js';

onEachBackend(() => {
  test('full fine-tuning trains every weight, the embedding included, and dispose freezes them again', () => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    model.addClassificationHead(2);
    const adapter = fullFineTuningMethod.apply(model, {}, new Rng(1));
    const trained = adapter.groups[0]!.variables;
    assert.equal(trained.length + 1, model.variables().length); // all but the head, which trains in its own group
    const batch = padBatch(
      ['good', 'not good'].map((t) => tokenizer.encode(t)),
      tokenizer.padId,
    );
    const before = tf.memory().numTensors;
    const norms = tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => classificationLoss(model.classify(batch, { training: true, rng: new Rng(2) }), [1, 0]),
        [...trained],
      );
      return trained.map((v) => tf.norm(grads[v.name]!).dataSync()[0]!);
    });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(
      norms.every((n) => n > 0),
      'a weight got no gradient',
    );
    adapter.dispose();
    assert.ok(trained.every((v) => !v.trainable));
    model.dispose();
  });
});
