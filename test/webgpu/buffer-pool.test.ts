/**
 * tfjs-webgpu's buffer pool bounded by mceval (engine/webgpu-pool.ts), on the device: LoRA steps whose sequence length
 * changes at every step (as batches padded to their longest sequence do) leave far less in the pool than with tfjs's
 * pool kept whole, with the same losses bit for bit; steps of one shape, three reads to a step (within the window of
 * four), make no buffer once the first have run. And fine-tuning reports the GPU memory the pool held at its most:
 * more than the tensors' own peak (the pool holds their buffers and keeps freed ones), more for a larger batch, and
 * nothing on wasm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { causalLmStep } from '../../src/train/synthetic-step.js';
import { tinyClassifierRun, withEnv } from '../helpers.js';

interface PoolLike {
  readonly numBytesAllocated: number;
}

const pool = () => (tf.backend() as unknown as { bufferManager: PoolLike }).bufferManager;
const CONFIG = parseLoraConfig(
  { r: 4, alpha: 8, dropout: 0.05, targetModules: ['q_proj', 'v_proj', 'down_proj'] },
  't',
);

/**
 * One LoRA step (a fresh adapter, the same seed) at each length, each followed by `extraReads` reads of a small tensor
 * (as a step that reads more than its loss); the losses, the pool's bytes after the last and the buffers each made.
 */
async function steps(
  lengths: readonly number[],
  extraReads = 0,
): Promise<{ losses: number[]; poolBytes: number; made: number[] }> {
  const { model } = loadModel('builtin:tiny');
  const device = (tf.backend() as unknown as { device: { createBuffer: (...args: unknown[]) => unknown } }).device;
  const create = device.createBuffer;
  const made: number[] = [];
  let count = 0;
  device.createBuffer = (...args: unknown[]) => {
    count++;
    return create.apply(device, args);
  };
  try {
    const losses: number[] = [];
    for (const length of lengths) {
      const before = count;
      const run = causalLmStep(model, loraMethod, CONFIG, { batch: 2, length, seed: 3 });
      losses.push(await run.step());
      run.dispose();
      for (let read = 0; read < extraReads; read++) {
        const small = tf.fill([3], read);
        await small.data();
        small.dispose();
      }
      made.push(count - before);
    }
    return { losses, poolBytes: pool().numBytesAllocated, made };
  } finally {
    device.createBuffer = create;
    model.dispose();
  }
}

test('steps of changing lengths leave a bounded pool and the same losses as a pool kept whole', async () => {
  await initEngine('webgpu');
  const lengths = Array.from({ length: 24 }, (_, i) => 8 + i);
  const kept = await withEnv('MCEVAL_WEBGPU_POOL', 'keep', () => steps(lengths));
  // The same steps again, on the pool they left: the first reads give back what the steps no longer use.
  const bounded = await withEnv('MCEVAL_WEBGPU_POOL', undefined, () => steps(lengths));
  assert.deepEqual(bounded.losses, kept.losses);
  assert.ok(
    bounded.poolBytes < kept.poolBytes / 2,
    `the pool holds ${bounded.poolBytes} bytes, against ${kept.poolBytes} kept whole`,
  );
});

test('steps of one shape, three reads each, make no buffer once the first have run', async () => {
  await initEngine('webgpu');
  const { made } = await steps(
    Array.from({ length: 8 }, () => 16),
    2,
  );
  assert.deepEqual(made.slice(3), [0, 0, 0, 0, 0], `buffers made per step: ${made.join(', ')}`);
});

/** A classification fine-tuning run's peak tensor and pool bytes. */
async function peaksAt(batchSize: number): Promise<{ tensors: number; gpu: number | undefined }> {
  const { result } = await tinyClassifierRun(CONFIG, batchSize);
  return { tensors: result.peakTensorBytes!, gpu: result.peakGpuBytes };
}

test("fine-tuning reports the pool's GPU memory at its most on webgpu, none on wasm", async () => {
  await initEngine('wasm');
  assert.equal((await peaksAt(2)).gpu, undefined);
  await initEngine('webgpu');
  const [two, eight] = [await peaksAt(2), await peaksAt(8)];
  assert.ok(two.gpu! >= two.tensors, `pool ${two.gpu}, tensors ${two.tensors}`);
  assert.ok(eight.gpu! > two.gpu!, `pool ${eight.gpu} at batch 8, ${two.gpu} at batch 2`);
});
