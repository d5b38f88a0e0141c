/**
 * A generation task's batches of prompts share one evaluation context (evaluation/generation.ts), and its references'
 * NLL shares it too: what the unchanging weights derive — DoRA's norms — is made once per layer for the whole task,
 * not once per batch or once for the responses and again for the NLL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { ForwardConstants } from '../src/models/forward-constants.js';
import { loraMethod } from '../src/peft/lora/index.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { demoCode } from '../src/tasks/demo/code.js';
import { GREEDY_DECODING, evaluateGeneration, generateResponses } from '../src/evaluation/generation.js';
import { useTestBackend } from './helpers.js';

test("a generation task's batches share one evaluation context: DoRA's norms are made once per layer", async () => {
  await useTestBackend();
  const before = tf.memory().numTensors;
  const { model, tokenizer } = loadModel('builtin:tiny');
  const config = parseLoraConfig({ r: 4, alpha: 8, useDora: true, targetModules: ['q_proj', 'v_proj'] }, 't');
  const adapter = loraMethod.apply(model, config, new Rng(4));
  // Counts the constants made: each owner's first get, and each of those made together (DoRA's norms).
  const { get, getMany } = ForwardConstants.prototype;
  let made = 0;
  ForwardConstants.prototype.get = function (owner, make) {
    return get.call(this, owner, () => {
      made++;
      return make();
    });
  };
  ForwardConstants.prototype.getMany = function (owners, make) {
    return getMany.call(this, owners, () => {
      const tensors = make();
      made += tensors.length;
      return tensors;
    });
  };
  try {
    const task = { ...demoCode, maxNewTokens: 4 };
    // Five prompts, two rows decoded at a time: three prompt passes or more, in one context.
    const docs = demoCode.load(undefined).eval.slice(0, 5);
    const responses = await generateResponses(model, tokenizer, task, docs, GREEDY_DECODING, 2);
    assert.equal(responses.length, 5);
    assert.equal(made, model.layers.length * 2);
    made = 0;
    const evaluation = await evaluateGeneration(model, tokenizer, task, docs, GREEDY_DECODING, 2);
    assert.deepEqual(
      evaluation.responses,
      responses.map((set) => set[0]),
    );
    assert.ok(Number.isFinite(evaluation.nll));
    assert.equal(made, model.layers.length * 2);
  } finally {
    Object.assign(ForwardConstants.prototype, { get, getMany });
    adapter.dispose();
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});
