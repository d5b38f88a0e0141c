/**
 * Tensors saved for a backward pass (engine/saved-tensors.ts): on cpu and wasm, made without an Identity call, with
 * the same gradients as tfjs's clones, the tensors they were saved from still readable after the saved ones are
 * freed, and no tensor left over; under MCEVAL_SAVED_TENSORS=cloned, tfjs's clones. A bad value names the choices.
 * test/webgpu/saved-tensors.test.ts runs training steps both ways on a device.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/backends.js';
import { tf, type Scalar, type Tensor, type Variable } from '../src/engine/tf.js';
import { withEnv } from './helpers.js';
import { withKernelCalls } from './webgpu/dispatches.js';

/**
 * Gradients of a loss whose ops save tensors three ways — a kernel's inputs (Multiply), its output (Exp), and a custom
 * gradient's `save` — in x and w, with x's own values read back after the saved tensors were freed.
 */
async function gradients(backend: 'cpu' | 'wasm') {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const [x, w] = tf.tidy(() => [
    tf.variable(tf.tensor2d([0.5, -1.25, 2, 0.75, -0.5, 1.5], [2, 3]), true, 'savedX'),
    tf.variable(tf.tensor2d([1, -2, 0.25, 3, -0.5, 1.5], [3, 2]), true, 'savedW'),
  ]) as [Variable, Variable];
  const cube = tf.customGrad(((t: Tensor, save: (tensors: Tensor[]) => void) => {
    save([t]);
    return {
      value: tf.pow(t, 3),
      gradFunc: (dy: Tensor, [saved]: Tensor[]) => tf.mul(dy, tf.mul(3, tf.square(saved!))),
    };
  }) as never) as (t: Tensor) => Tensor;
  const { value: grads, calls } = await withKernelCalls('Identity', async () =>
    tf.variableGrads(() => tf.sum(cube(tf.exp(tf.mul(tf.matMul(x, w), 0.5)))) as Scalar, [x, w]),
  );
  const read = {
    loss: Array.from(await grads.value.data()),
    dx: Array.from(await grads.grads['savedX']!.data()),
    dw: Array.from(await grads.grads['savedW']!.data()),
    x: Array.from(await x.data()),
  };
  tf.dispose([grads.value, ...Object.values(grads.grads), x, w]);
  assert.equal(tf.memory().numTensors, before);
  return { read, calls };
}

for (const backend of ['cpu', 'wasm'] as const)
  test(`on ${backend} a saved tensor is no Identity call, and the gradients are the same bits as with clones`, async () => {
    const shared = await gradients(backend);
    const cloned = await withEnv('MCEVAL_SAVED_TENSORS', 'cloned', () => gradients(backend));
    assert.equal(shared.calls, 0);
    // Multiply's two inputs (twice), Exp's output and the custom gradient's one, at least.
    assert.ok(cloned.calls >= 4, `${cloned.calls} clones`);
    assert.deepEqual(shared.read, cloned.read);
    assert.deepEqual(shared.read.x, [0.5, -1.25, 2, 0.75, -0.5, 1.5]);
  });

test('MCEVAL_SAVED_TENSORS names its choices on a bad value', async () => {
  await assert.rejects(
    withEnv('MCEVAL_SAVED_TENSORS', 'copied', () => initEngine('cpu')),
    /MCEVAL_SAVED_TENSORS=copied is not a choice mceval has: use .*shared.*cloned/,
  );
});
