/**
 * How runShader (kernels/webgpu/shader.ts) hands its inputs to tfjs-webgpu: as one axis each, whatever their rank, so
 * that tfjs works out no shapes, strides or broadcast axes for them at a dispatch and one pipeline serves every rank.
 * A shader that doubles its input, run on the same 24 values as [24], [6, 4] and [2, 3, 4]: the same values out, one
 * pipeline compiled, and the uniforms it writes the size of a one-axis input's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backends.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import {
  elementwiseDispatch,
  ELEMENT_INDEX,
  intUniform,
  runShader,
  scalarInputs,
  type WebGpuBackendLike,
} from '../../src/engine/kernels/webgpu/shader.js';
import { watchUniformWrites } from './dispatches.js';

const KEY = 'McevalTestDoubled';

interface PipelineCaching {
  readonly pipelineCache: Record<string, unknown>;
}

function doubled(x: Tensor): Tensor {
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const info = runShader(
    backend,
    {
      key: KEY,
      inputs: scalarInputs(['x']),
      uniforms: 'count : i32,',
      workgroupSize: 64,
      dispatch: elementwiseDispatch(x.size, 64),
      outputSize: x.size,
      code: () => `
fn main() {
  let i = ${ELEMENT_INDEX(64)};
  if (i < uniforms.count) {
    result[i] = 2.0 * x[i];
  }
}
`,
    },
    [x as unknown as TensorInfo],
    [intUniform(x.size)],
  );
  return tf.engine().makeTensorFromTensorInfo(info);
}

test('runShader hands tfjs its inputs as one axis: one pipeline for every rank, the same values', async () => {
  await initEngine('webgpu');
  const backend = tf.backend() as unknown as PipelineCaching;
  const before = tf.memory().numTensors;
  const values = Float32Array.from({ length: 24 }, (_, i) => i - 7.5);
  // The bytes of each uniform write while a dispatch is recorded (tfjs's own fields, then the shader's).
  const uniforms = watchUniformWrites();
  const written = uniforms.sizes;
  try {
    for (const shape of [[24], [6, 4], [2, 3, 4]]) {
      const x = tf.tensor(values, shape);
      written.length = 0;
      const y = doubled(x);
      assert.deepEqual(
        Array.from(await y.data()),
        Array.from(values, (v) => 2 * v),
        `[${shape}]`,
      );
      // One-axis input and output: NaN, Infinity, two shapes and strides of one axis each, then count.
      assert.ok(written.length <= 1, `[${shape}]: one uniform write at most, not ${written.join(', ')}`);
      if (written.length === 1) assert.ok(written[0]! <= 32, `[${shape}]: ${written[0]} bytes of uniforms`);
      tf.dispose([x, y]);
    }
  } finally {
    uniforms.stop();
  }
  const pipelines = Object.keys(backend.pipelineCache).filter((key) => key.startsWith(`${KEY}_`));
  assert.equal(pipelines.length, 1, `one pipeline for three ranks: ${pipelines.join(' ; ')}`);
  assert.equal(tf.memory().numTensors, before);
});
