/**
 * `McevalAdamW` on webgpu (engine/kernels/webgpu/adamw-update.ts) against the same AdamW as tfjs ops on webgpu: four
 * steps over parameters of several shapes (one without a gradient at one step), with weight decay and a learning-rate
 * multiplier. The moments are updated in place, so they are also read back between steps: a read leaves a host copy
 * that tfjs would serve again, and the kernel must drop it. Agreement within 1e-6 relative (a GPU may fuse a multiply
 * and an add that the ops round separately).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Variable } from '../../src/engine/tf.js';
import { AdamW } from '../../src/train/adamw.js';
import { adamwFixture, adamwSteps } from '../helpers.js';
import { ADAMW_UPDATE } from '../../src/engine/kernels/adamw-update.js';

/** The optimizer's moments, private state read here only to check they are read back fresh. */
function moments(optimizer: AdamW): Variable[] {
  const slots = (optimizer as unknown as { slots: { m: Variable; v: Variable }[] }).slots;
  return slots.flatMap((slot) => [slot.m, slot.v]);
}

test('the webgpu AdamW kernel agrees with the tfjs ops, moments read back fresh after in-place updates', async () => {
  await initEngine('webgpu');
  assert.ok(tf.getKernel(ADAMW_UPDATE, 'webgpu'), 'the webgpu kernel is registered');
  const rng = new Rng(8);
  const shapes = [[64, 8], [5], [8, 172], [300, 50]];
  const initial = shapes.map((shape) => rng.normalArray(shape.reduce((a, b) => a * b, 1)));
  const fused = adamwFixture(shapes, initial, true);
  const composed = adamwFixture(shapes, initial, false);
  const before = tf.memory().numTensors;
  const close = async (actual: Tensor[], expected: Tensor[], label: string) => {
    for (const [i, tensor] of actual.entries()) {
      const [a, e] = await Promise.all([tensor.data(), expected[i]!.data()]);
      const worst = Math.max(...Array.from(a, (value, j) => Math.abs(value - e[j]!) / Math.max(Math.abs(e[j]!), 1e-3)));
      assert.ok(worst <= 1e-6, `${label} ${i}: relative difference ${worst}`);
    }
  };
  await adamwSteps([fused, composed], shapes, rng, async (step) => {
    await close(moments(fused.optimizer), moments(composed.optimizer), `step ${step} moment`);
    await close(fused.variables, composed.variables, `step ${step} parameter`);
  });
  assert.equal(tf.memory().numTensors, before);
  const moved = await fused.variables[3]!.data();
  assert.notDeepEqual(Array.from(moved.slice(0, 4)), Array.from(initial[3]!.slice(0, 4)));
  [fused, composed].forEach(({ optimizer, variables }) => {
    optimizer.dispose();
    variables.forEach((v) => v.dispose());
  });
});
