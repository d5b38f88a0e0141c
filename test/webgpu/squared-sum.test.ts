/**
 * A list of tensors' Σ x², global norm and clip coefficient on webgpu (ops/squared-norm.ts through the McevalSquaredSum
 * kernel, kernels/webgpu/squared-sum.ts) against the same sums in float64 from their values: one group, several
 * groups (the last adding the others' slots in order), sizes that are and are not multiples of 4; one dispatch a
 * group, nothing else dispatched, no tensor left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { normOnDevice, squaredNorm } from '../../src/engine/ops/squared-norm.js';
import { globalNormClipping } from '../../src/train/clip.js';
import { dispatchesOf } from './dispatches.js';

/** A LoRA-like list: A's and B's of a few widths, and odd sizes. */
const SHAPES = [[64, 8], [8, 64], [3, 5], [172, 8], [7], [8, 32], [1, 1], [5, 5, 3]];

async function withTensors(body: (tensors: Tensor[], squares: number) => Promise<void>): Promise<void> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const rng = new Rng(5);
  const tensors = SHAPES.map((shape) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape));
  // Uploaded first, as gradients are made on the device.
  const onGpu = tensors.map((t) => tf.add(t, 0));
  tf.dispose(tensors);
  let squares = 0;
  for (const t of onGpu) for (const v of await t.data()) squares += v * v;
  try {
    await body(onGpu, squares);
  } finally {
    tf.dispose(onGpu);
    assert.equal(tf.memory().numTensors, before);
  }
}

const close = (actual: number, expected: number, label: string) =>
  assert.ok(Math.abs(actual - expected) <= 1e-6 * Math.abs(expected), `${label}: ${actual} against ${expected}`);

for (const groupValues of [1 << 22, 600, 64]) {
  test(`Σ x², the norm and the clip coefficient on webgpu agree with float64: groups of ${groupValues}`, async () => {
    await withTensors(async (tensors, squares) => {
      const total = tensors.reduce((n, t) => n + t.size, 0);
      // Tensors join into groups in list order; one larger than a group is a group of its own.
      let groups = 0;
      let size = Infinity;
      for (const t of tensors) {
        if (size + t.size > groupValues) [groups, size] = [groups + 1, 0];
        size += t.size;
      }
      assert.ok(groupValues < total ? groups > 1 : groups === 1);
      let sum: Tensor | undefined;
      const dispatches = dispatchesOf('', () => {
        sum = squaredNorm(tensors, groupValues);
      });
      assert.equal(dispatches, groups, 'one dispatch a group (the joins are copies)');
      assert.deepEqual(sum!.shape, []);
      close((await sum!.data())[0]!, squares, 'Σ x²');
      sum!.dispose();
      const norm = Math.sqrt(squares);
      for (const maxNorm of [norm / 3, 2 * norm]) {
        const clip = normOnDevice(tensors, maxNorm, groupValues)!;
        close((await clip.norm.data())[0]!, norm, 'norm');
        close((await clip.coefficient!.data())[0]!, Math.min(1, maxNorm / (norm + 1e-6)), 'coefficient');
        tf.dispose([clip.norm, clip.coefficient!, ...clip.joined.groups]);
      }
      const unclipped = normOnDevice(tensors, 0, groupValues)!;
      assert.equal(unclipped.coefficient, undefined);
      close((await unclipped.norm.data())[0]!, norm, 'norm without clipping');
      tf.dispose([unclipped.norm, ...unclipped.joined.groups]);
    });
  });
}

test("globalNormClipping on webgpu is the kernel's: one dispatch for a list of gradients", async () => {
  await withTensors(async (tensors, squares) => {
    let clip: ReturnType<typeof globalNormClipping> | undefined;
    assert.equal(
      dispatchesOf('', () => {
        clip = globalNormClipping(tensors, 1);
      }),
      1,
    );
    close((await clip!.norm.data())[0]!, Math.sqrt(squares), 'norm');
    close((await clip!.coefficient!.data())[0]!, 1 / (Math.sqrt(squares) + 1e-6), 'coefficient');
    tf.dispose([clip!.norm, clip!.coefficient!, ...clip!.joined!.groups]);
  });
});
