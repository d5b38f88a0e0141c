/**
 * A dispatch's uniforms packed by mceval (engine/packed-uniforms.ts) against tfjs-webgpu's own makeUniforms, the
 * reference, called on the same fields: the same bytes for the fields tfjs writes (its NaN and Infinity, shapes of
 * one to six values and the strides of a 1-D shape, which are none and written as 1, after which tfjs's alignment
 * rules for arrays of 5 and 6 apply) and for random ones of every type; the webgpu backend packs them itself under
 * MCEVAL_WEBGPU_UNIFORMS=packed (the default) and leaves them to tfjs under `tfjs`, and training steps have the same
 * losses, bit for bit, either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf } from '../../src/engine/tf.js';
import { packUniforms, type UniformField } from '../../src/engine/packed-uniforms.js';
import { withEnv } from '../helpers.js';
import { withTinySteps } from './tiny-steps.js';

interface UniformsMaker {
  makeUniforms(fields: UniformField[]): { size: number };
}

/** tfjs-webgpu's own makeUniforms, the prototype the backend's class extends. */
const tfjsMaker = (): UniformsMaker =>
  Object.getPrototypeOf(Object.getPrototypeOf(tf.backend())) as unknown as UniformsMaker;

/** The bytes tfjs-webgpu's makeUniforms writes for `fields` (given copies: it replaces empty data by [1]). */
function tfjsBytes(fields: readonly UniformField[]): Uint8Array {
  let written: ArrayBuffer | undefined;
  const host = {
    bufferManager: { acquireBuffer: (size: number, usage: number) => ({ size, usage }) },
    queue: { writeBuffer: (_buffer: object, _offset: number, data: ArrayBuffer) => (written = data) },
    uniformPendingDisposal: [] as object[],
  };
  const copies = fields.map(({ type, data }) => ({ type, data: Array.from(data) }));
  const { size } = tfjsMaker().makeUniforms.call(host, copies);
  return new Uint8Array(written!, 0, size);
}

const field = (type: string, data: number[]): UniformField => ({ type, data });

test("packed uniforms are the bytes of tfjs-webgpu's makeUniforms", async () => {
  await initEngine('webgpu');
  // What tfjs writes ahead of a kernel's own values, as its programs have them.
  const lead = [field('float32', [NaN]), field('float32', [Infinity])];
  const cases: UniformField[][] = [
    [...lead, field('int32', [4096]), field('int32', []), field('int32', [7]), field('int32', [])],
    [...lead, field('int32', [2, 3]), field('int32', [3, 1]), field('int32', [5]), field('float32', [0.1, -2.5])],
    [...lead, field('int32', [2, 3, 4]), field('int32', [12, 4, 1]), field('uint32', [4294967295, 2 ** 31])],
    [...lead, field('int32', [1, 2, 3, 4, 5]), field('int32', [7]), field('int32', [1, 2])],
    [...lead, field('int32', [1, 2, 3, 4, 5, 6]), field('float32', [1e-30]), field('int32', [-1, -2147483648])],
    [field('int32', [1, 2, 3, 4]), field('float32', [3])],
    [field('float32', [])],
  ];
  const rng = new Rng(31);
  const types = ['int32', 'uint32', 'float32'];
  for (let c = 0; c < 200; c++) {
    cases.push(
      Array.from({ length: 1 + rng.integer(40) }, () => {
        const type = types[rng.integer(3)]!;
        const values = Array.from({ length: rng.integer(7) }, () =>
          type === 'float32' ? rng.normal() * 1e3 : rng.integer(2 ** 31) * (rng.integer(2) === 0 ? -1 : 1),
        );
        return field(type, values);
      }),
    );
  }
  for (const fields of cases) {
    const expected = tfjsBytes(fields);
    const packed = new Uint8Array(packUniforms(fields));
    assert.deepEqual(packed, expected, JSON.stringify(fields.map(({ type, data }) => [type, data.length])));
  }
});

/** A LoRA step's losses (three steps), and how many dispatches tfjs's makeUniforms packed. */
async function loraSteps(): Promise<{ losses: number[]; byTfjs: number }> {
  await initEngine('webgpu');
  const maker = tfjsMaker();
  const make = maker.makeUniforms;
  let byTfjs = 0;
  maker.makeUniforms = function (this: unknown, fields) {
    byTfjs++;
    return make.call(this, fields);
  };
  try {
    return await withTinySteps('lora-dropout', async (run) => {
      const losses = [await run.step(), await run.step(), await run.step()];
      return { losses, byTfjs };
    });
  } finally {
    maker.makeUniforms = make;
  }
}

test('the webgpu backend packs uniforms itself unless MCEVAL_WEBGPU_UNIFORMS=tfjs, with the same losses', async () => {
  const packed = await loraSteps();
  const byTfjs = await withEnv('MCEVAL_WEBGPU_UNIFORMS', 'tfjs', loraSteps);
  assert.equal(packed.byTfjs, 0);
  assert.ok(byTfjs.byTfjs > 50, `${byTfjs.byTfjs} dispatches packed by tfjs`);
  assert.deepEqual(packed.losses, byTfjs.losses);
});

test('MCEVAL_WEBGPU_UNIFORMS names its choices on a bad value', async () => {
  await assert.rejects(
    withEnv('MCEVAL_WEBGPU_UNIFORMS', 'fast', () => initEngine('webgpu')),
    /MCEVAL_WEBGPU_UNIFORMS=fast is not a choice mceval has: use .*packed.*tfjs/,
  );
});
