/**
 * Reshapes recorded on the gradient tape in a decoder's training step on webgpu: each is a kernel call, a tape node and
 * a saved tensor, and its gradient another call. The low-rank layers (ops/low-rank-linear.ts) and RoPE's queries and
 * keys (models/layers/rope.ts) cut and restore their shapes inside their ops, so a step's taped reshapes do not grow
 * with its layers; the same losses, bit for bit, as the model gave by heads (the values are unchanged by a reshape).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { stepper } from '../../bench/gpu/step-methods.js';
import { withKernelCalls } from './dispatches.js';

async function tapedReshapes(spec: string): Promise<{ reshapes: number; layers: number }> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const { model } = loadModel(spec);
  const run = stepper(model, 2, 8, 3, 'lora-dropout');
  try {
    await run.step();
    const { calls } = await withKernelCalls('Reshape', () => run.step(), { tapedOnly: true });
    return { reshapes: calls, layers: model.config.numHiddenLayers };
  } finally {
    run.dispose();
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  }
}

test('a decoder training step records no reshape per layer on the tape', async () => {
  const [tiny, small] = [await tapedReshapes('builtin:tiny'), await tapedReshapes('builtin:small')];
  assert.ok(small.layers > tiny.layers, `${small.layers} layers against ${tiny.layers}`);
  // The embedding's and the LM head's few, the same for any depth (each layer took seven low-rank and four RoPE ones).
  assert.equal(small.reshapes, tiny.reshapes);
  assert.ok(tiny.reshapes <= 4, `${tiny.reshapes} taped reshapes`);
});
