import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { padBatch } from '../src/models/tokenizers/padding.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { loraMethod } from '../src/peft/lora/index.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { classificationLoss } from '../src/train/loss.js';
import { maxAbsDifference, onEachBackend } from './helpers.js';

const config = parseLoraConfig(
  { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj', 'down_proj'] },
  'test',
);

function sampleBatch(tokenizer: { encode(t: string): number[]; padId: number }) {
  return padBatch(
    ['a fine film', 'not good at all', 'ok'].map((t) => tokenizer.encode(t)),
    tokenizer.padId,
  );
}

onEachBackend(() => {
  test('LoRA output equals the base output at initialisation (B = 0)', () => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    model.addClassificationHead(2);
    const batch = sampleBatch(tokenizer);
    const baseLogits = tf.tidy(() => model.classify(batch, EVAL_CONTEXT).dataSync());
    const adapter = loraMethod.apply(model, config, new Rng(1));
    const adaptedLogits = tf.tidy(() => model.classify(batch, EVAL_CONTEXT).dataSync());
    assert.equal(maxAbsDifference(baseLogits, adaptedLogits), 0);
    // A is not zero, so the equality above is B's doing, and a perturbed B must change the output.
    const layer = model.layers[0]!.q.adapter as unknown as { loraA: tf.Variable; loraB: tf.Variable };
    assert.ok(tf.tidy(() => tf.max(tf.abs(layer.loraA)).dataSync()[0]!) > 0);
    layer.loraB.assign(tf.onesLike(layer.loraB));
    const perturbed = tf.tidy(() => model.classify(batch, EVAL_CONTEXT).dataSync());
    assert.ok(maxAbsDifference(baseLogits, perturbed) > 1e-4);
    adapter.dispose();
    model.dispose();
  });

  test('A is Kaiming-uniform with bound 1/sqrt(in), as PEFT initialises lora_A', () => {
    const { model } = loadModel('builtin:tiny');
    const adapter = loraMethod.apply(model, config, new Rng(2));
    const a = (model.layers[0]!.down.adapter as unknown as { loraA: tf.Variable }).loraA;
    const values = a.dataSync();
    const bound = 1 / Math.sqrt(model.config.intermediateSize);
    assert.deepEqual(a.shape, [model.config.intermediateSize, 4]);
    assert.ok(Math.max(...values.map(Math.abs)) <= bound);
    assert.ok(Math.max(...values.map(Math.abs)) > 0.8 * bound);
    adapter.dispose();
    model.dispose();
  });

  test('gradients reach only the LoRA matrices (and the head), never the frozen base', () => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    model.addClassificationHead(2);
    const adapter = loraMethod.apply(model, config, new Rng(3));
    const trainable = [...adapter.groups.flatMap((g) => g.variables), ...model.score!.variables()];
    assert.deepEqual(
      adapter.groups.map((g) => [g.name, g.variables.length]),
      [
        ['lora_A', 3 * model.config.numHiddenLayers],
        ['lora_B', 3 * model.config.numHiddenLayers],
      ],
    );
    const frozen = model.variables().filter((v) => !trainable.includes(v));
    assert.ok(frozen.every((v) => !v.trainable));
    const batch = sampleBatch(tokenizer);
    const before = tf.memory().numTensors;
    const norms = tf.tidy(() => {
      // With no variable list, variableGrads differentiates every trainable variable: exactly the adapter and head.
      const { grads } = tf.variableGrads(() =>
        classificationLoss(model.classify(batch, { training: true, rng: new Rng(4) }), [1, 0, 1]),
      );
      return Object.entries(grads).map(([name, g]) => [name, tf.norm(g).dataSync()[0]!] as const);
    });
    assert.equal(tf.memory().numTensors, before);
    const names = new Set(norms.map(([name]) => name));
    assert.deepEqual(names, new Set(trainable.map((v) => v.name)));
    // B starts at zero, so only B and the head have non-zero gradients at the first step; A's is exactly zero.
    const aNames = new Set(adapter.groups[0]!.variables.map((v) => v.name));
    for (const [name, norm] of norms) {
      if (aNames.has(name)) assert.equal(norm, 0, `${name} (A) has a gradient although B = 0`);
      else assert.ok(norm > 0, `${name} has no gradient`);
    }
    adapter.dispose();
    model.dispose();
  });

  test('unknown target modules are an error naming the layers that exist', () => {
    const { model } = loadModel('builtin:tiny');
    assert.throws(
      () => loraMethod.apply(model, { ...config, targetModules: ['query'] }, new Rng(1)),
      /Target modules not found in the model: query\. Its linear layers are: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/,
    );
    model.dispose();
  });

  test('dispose removes the adapter and frees every tensor it made', () => {
    const { model } = loadModel('builtin:tiny');
    const before = tf.memory().numTensors;
    const adapter = loraMethod.apply(model, config, new Rng(1));
    assert.ok(tf.memory().numTensors > before);
    adapter.dispose();
    assert.equal(tf.memory().numTensors, before);
    assert.ok(model.linears().every((layer) => layer.adapter === undefined));
    model.dispose();
  });

  test('rsLoRA scales by α/√r; LoRA+ gives B its learning-rate multiple', () => {
    const { model } = loadModel('builtin:tiny');
    const rs = loraMethod.apply(model, { ...config, useRslora: true, loraplusLrRatio: 16 }, new Rng(1));
    const layer = model.layers[0]!.q.adapter as unknown as { scaling: number };
    assert.equal(layer.scaling, 8 / Math.sqrt(4));
    assert.deepEqual(
      rs.groups.map((g) => g.learningRateMultiplier),
      [1, 16],
    );
    assert.equal(rs.hyperparameters['use_rslora'], true);
    rs.dispose();
    model.dispose();
  });
});
