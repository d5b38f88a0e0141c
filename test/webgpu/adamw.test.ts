/**
 * `McevalAdamW` on webgpu (engine/kernels/webgpu/adamw-update.ts) against the same AdamW as tfjs ops on webgpu: four
 * steps over parameters of several shapes (one without a gradient at one step), with weight decay and a learning-rate
 * multiplier. The moments (flat banks) and the parameters (written in place where nothing else holds them) are updated
 * in place, so both are read back between steps: a read leaves a host copy that tfjs would serve again, and the kernel
 * must drop it. A parameter whose buffer another tensor shares, or whose gradient is the parameter itself, must get a
 * new buffer instead. Agreement within 1e-6 relative (a GPU may fuse a multiply and an add that the ops round
 * separately). Both with small parameters' gradients joined into one binding (buffer copies) and without.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { dispatchesOf, watchUniformWrites, withDispatchedPrograms } from './dispatches.js';
import { AdamW } from '../../src/train/adamw.js';
import { newVariable } from '../../src/engine/variables.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { adamwFixture, adamwMoments, adamwSteps, withEnv } from '../helpers.js';
import { assertHeldUpdates } from '../adamw-hold.js';
import { ADAMW_UPDATE } from '../../src/engine/kernels/adamw-update.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { normOnDevice } from '../../src/engine/ops/squared-norm.js';
import { captureCommands } from '../../src/engine/replay/command-capture.js';

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let worst = 0;
  for (let j = 0; j < actual.length; j++)
    worst = Math.max(worst, Math.abs(actual[j]! - expected[j]!) / Math.max(Math.abs(expected[j]!), 1e-3));
  assert.ok(worst <= 1e-6, `${label}: relative difference ${worst}`);
}

async function assertAllClose(actual: readonly Tensor[], expected: readonly Tensor[], label: string): Promise<void> {
  for (const [i, tensor] of actual.entries()) {
    assertClose(await tensor.data(), await expected[i]!.data(), `${label} ${i}`);
  }
}

for (const joins of ['copies', 'shaders'])
  test(`the webgpu AdamW kernel agrees with the tfjs ops, parameters and moments read back fresh (joins by ${joins})`, () =>
    withEnv('MCEVAL_WEBGPU_JOINS', joins, agreesWithOps));

/**
 * Four steps of the kernel and of the ops; the last parameter is over JOINED_BELOW values, so it reads its own
 * gradient beside the others' joined ones.
 */
async function agreesWithOps() {
  await initEngine('webgpu');
  assert.ok(tf.getKernel(ADAMW_UPDATE, 'webgpu'), 'the webgpu kernel is registered');
  const rng = new Rng(8);
  const shapes = [[64, 8], [5], [8, 172], [300, 50], [520, 512]];
  const initial = shapes.map((shape) => rng.normalArray(shape.reduce((a, b) => a * b, 1)));
  const fused = adamwFixture(shapes, initial, true);
  const composed = adamwFixture(shapes, initial, false);
  const buffers = fused.variables.map((v) => v.dataId);
  const before = tf.memory().numTensors;
  await adamwSteps([fused, composed], shapes, rng, async (step) => {
    const [a, e] = await Promise.all([adamwMoments(fused.optimizer), adamwMoments(composed.optimizer)]);
    a.forEach((values, i) => assertClose(values, e[i]!, `step ${step} moment ${i}`));
    await assertAllClose(fused.variables, composed.variables, `step ${step} parameter`);
  });
  assert.equal(tf.memory().numTensors, before);
  // Nothing else held the parameters: each was rewritten in its own buffer.
  fused.variables.forEach((v, i) => assert.equal(v.dataId, buffers[i], `parameter ${i} updated in place`));
  const moved = await fused.variables[3]!.data();
  assert.notDeepEqual(Array.from(moved.slice(0, 4)), Array.from(initial[3]!.slice(0, 4)));
  [fused, composed].forEach(({ optimizer, variables }) => {
    optimizer.dispose();
    variables.forEach((v) => v.dispose());
  });
}

for (const joins of ['copies', 'shaders'])
  test(`the webgpu AdamW kernel binds ${joins === 'copies' ? 'one buffer per small parameter updated in place, their gradients joined' : 'two buffers per parameter updated in place'}`, () =>
    withEnv('MCEVAL_WEBGPU_JOINS', joins, () => bindsPerParameter(joins === 'copies')));

async function bindsPerParameter(joined: boolean) {
  await initEngine('webgpu');
  const bindable = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
  // The banks, the clipping scale and the joined gradients, then one per parameter; or two per parameter.
  const perDispatch = joined ? bindable - 4 : Math.floor((bindable - 3) / 2);
  const rng = new Rng(4);
  const shapes = Array.from({ length: perDispatch + 1 }, (_, i) => [16 + i, 8]);
  const initial = shapes.map((shape) => rng.normalArray(shape[0]! * shape[1]!));
  const { optimizer, variables } = adamwFixture(shapes, initial, true);
  const gradients = shapes.map((shape) => tf.tensor(rng.normalArray(shape[0]! * shape[1]!), shape));
  const scale = tf.scalar(0.5);
  const dispatches = dispatchesOf('McevalAdamW', () => optimizer.apply(gradients, 0.01, scale));
  assert.equal(dispatches, 2, `${shapes.length} parameters at ${bindable} storage buffers`);
  assert.equal(
    dispatchesOf('McevalAdamW', () => optimizer.apply(gradients.slice(0, perDispatch), 0.01, scale)),
    1,
  );
  [...gradients, scale, ...variables].forEach((t) => t.dispose());
  optimizer.dispose();
}

test('a parameter whose buffer is shared, or that is its own gradient, gets a new buffer on webgpu', async () => {
  await initEngine('webgpu');
  const rng = new Rng(12);
  const shapes = [[32, 8], [8, 24], [40]];
  const initial = shapes.map((shape) => rng.normalArray(shape.reduce((a, b) => a * b, 1)));
  const fused = adamwFixture(shapes, initial, true);
  const composed = adamwFixture(shapes, initial, false);
  // A reshape shares its input's buffer: it must keep the values it had.
  const alias = tf.reshape(fused.variables[0]!, [-1]);
  const buffers = fused.variables.map((v) => v.dataId);
  for (let step = 0; step < 2; step++) {
    const drawn = [0, 2].map((i) => rng.normalArray(initial[i]!.length));
    // Parameter 1's gradient is the parameter itself, bound twice in one dispatch if written in place.
    [fused, composed].forEach(({ optimizer, variables }) =>
      tf.tidy(() => {
        const gradients = [tf.tensor(drawn[0]!, shapes[0]), variables[1]!, tf.tensor(drawn[1]!, shapes[2])];
        optimizer.apply(gradients, 0.02);
      }),
    );
    await assertAllClose(fused.variables, composed.variables, `step ${step} parameter`);
  }
  assert.deepEqual(await alias.data(), Float32Array.from(initial[0]!), 'the reshape kept its values');
  assert.notEqual(fused.variables[0]!.dataId, buffers[0], 'shared: a new buffer');
  assert.notEqual(fused.variables[1]!.dataId, buffers[1], 'its own gradient: a new buffer');
  assert.equal(fused.variables[2]!.dataId, buffers[2], 'alone: in place');
  alias.dispose();
  [fused, composed].forEach(({ optimizer, variables }) => {
    optimizer.dispose();
    variables.forEach((v) => v.dispose());
  });
});

test("the webgpu AdamW kernel's hold: the same bits after finite numbers, nothing changed after a non-finite one", async () => {
  await initEngine('webgpu');
  await assertHeldUpdates();
});

test("a dispatch's parameters of one group share one set of coefficients in its uniforms (LoRA+'s two groups, two)", async () => {
  await initEngine('webgpu');
  const bindable = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
  // Small parameters, each alone holding its buffer (updated in place) with their gradients joined: as many as one
  // dispatch binds.
  const count = bindable - 4;
  const rng = new Rng(6);
  const variables = Array.from({ length: count }, (_, i) =>
    newVariable(() => tf.tensor(rng.normalArray(8 * (i + 1)), [i + 1, 8]), true),
  );
  const gradients = variables.map((variable) => tf.tensor(rng.normalArray(variable.size), variable.shape));
  const half = count >> 1;
  for (const groups of [
    [{ name: 'all', variables, learningRateMultiplier: 1 }],
    [
      { name: 'a', variables: variables.slice(0, half), learningRateMultiplier: 1 },
      { name: 'b', variables: variables.slice(half), learningRateMultiplier: 16 },
    ],
  ]) {
    const optimizer = new AdamW(groups, { weightDecay: 0.1 });
    const keys: string[] = [];
    const uniforms = watchUniformWrites();
    try {
      await withDispatchedPrograms(
        (program) => keys.push(program.shaderKey ?? ''),
        async () => optimizer.apply(gradients, 0.01),
      );
    } finally {
      uniforms.stop();
    }
    const written = uniforms.sizes;
    assert.equal(keys.filter((key) => key.startsWith('McevalAdamW')).length, 1, keys.join(' '));
    // Each parameter's layout letter is followed by its set.
    const layout = keys.find((key) => key.startsWith('McevalAdamW'))!.split('_')[1]!;
    const sets = new Set(layout.match(/\d+/g));
    assert.equal(sets.size, groups.length, `${groups.length} group(s): ${layout}`);
    // tfjs's own two words (NaN, Infinity) and a shape and a strides word for each binding (v, the joined gradients,
    // each p and the m bank: one axis each), then three words a parameter and eight a set, where a parameter had
    // eleven.
    assert.equal(written.length, 1);
    assert.equal(written[0], 4 * (2 + 2 * (count + 3) + 3 * count + 8 * groups.length), `${count} parameters`);
    optimizer.dispose();
  }
  tf.dispose([...variables, ...gradients]);
});

test("given the global norm's joins, the webgpu AdamW kernel reads each gradient there: no copies, the same bits", async () => {
  await initEngine('webgpu');
  const rng = new Rng(14);
  // Joins of at most 600 values (the norm's are 2²²), so that the gradients fall in several, one alone (the last, over
  // JOINED_BELOW values, which would otherwise bind its own gradient).
  const shapes = [[64, 8], [5], [8, 40], [30, 5], [7], [520, 512]];
  const initial = shapes.map((shape) => rng.normalArray(shape.reduce((a, b) => a * b, 1)));
  const [given, copied] = [adamwFixture(shapes, initial, true), adamwFixture(shapes, initial, true)];
  const backend = tf.backend();
  const before = tf.memory().numTensors;
  for (let step = 0; step < 3; step++) {
    // The second parameter has no gradient at the second step.
    const gradients = shapes.map((shape, i) =>
      step === 1 && i === 1 ? undefined : tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape),
    );
    const defined = gradients.filter((g) => g !== undefined);
    const clip = normOnDevice(defined, 0.5, 600)!;
    assert.ok(clip.joined.groups.length >= 3, `${clip.joined.groups.length} joins`);
    const copiesAndDispatches = (apply: () => void) => {
      // What is recorded so far submitted: the capture sees the encoders made after it begins.
      (backend as unknown as { submitRecorded(): void }).submitRecorded();
      const capture = captureCommands(backend);
      capture.begin();
      apply();
      const events = capture.take();
      capture.stop();
      return ['copy', 'dispatch'].map((kind) => events.filter((event) => event.kind === kind).length);
    };
    const [givenCopies, givenDispatches] = copiesAndDispatches(() =>
      given.optimizer.apply(gradients, 0.003, clip.coefficient, undefined, clip.joined),
    );
    const [copies, dispatches] = copiesAndDispatches(() => copied.optimizer.apply(gradients, 0.003, clip.coefficient));
    assert.equal(givenCopies, 0, `step ${step}: nothing copied where the gradients are joined already`);
    assert.ok(copies > 0, `step ${step}: ${copies} copies into the kernel's own joins`);
    assert.ok(givenDispatches >= 1 && dispatches >= 1, `${givenDispatches} and ${dispatches} dispatches`);
    const [a, e] = await Promise.all([adamwMoments(given.optimizer), adamwMoments(copied.optimizer)]);
    a.forEach((values, i) => assert.deepEqual(values, e[i], `step ${step} moment ${i}`));
    for (const [i, variable] of given.variables.entries())
      assert.deepEqual(await variable.data(), await copied.variables[i]!.data(), `step ${step} parameter ${i}`);
    tf.dispose([...defined, clip.norm, clip.coefficient!, ...clip.joined.groups]);
  }
  assert.equal(tf.memory().numTensors, before);
  [given, copied].forEach(({ optimizer, variables }) => {
    optimizer.dispose();
    variables.forEach((v) => v.dispose());
  });
});
