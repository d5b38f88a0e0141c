/**
 * bench/gpu/out-of-memory.ts: what `--grad-accum auto` and `--eval-batch-size auto` rest on, on a real GPU, where
 * lavapipe can only refuse a tensor over its binding limit: that running out of GPU memory stops the work with a
 * DeviceRefusal (Dawn's GPUOutOfMemoryError) rather than with a lost device or with zeros read as numbers, and that
 * the device computes correctly again once the refused work's tensors are freed and the buffer pool gives them back.
 *
 * Holds tensors of `--chunk-mib` (1,024: under an H200's 2 GiB binding limit) one after another, each written by a
 * fill and one of its values read back (a read is where the device's verdict arrives), until the device refuses one
 * or `--most-gib` (192: past an H200's 141 GB, within what its host could take should Dawn place buffers in host
 * memory) are held. Then frees them, gives the pool's buffers back (as the autos do before they retry), and checks a
 * 256 × 256 product against the host's and one more chunk. Prints one JSON document; bench/gpu/run.sh runs it before
 * the bench, in a process of its own. On lavapipe (`--chunk-mib 256`) the first chunk is refused for the binding limit.
 *
 * Usage: node out-of-memory.js [--chunk-mib 1024] [--most-gib 192]
 */
import { tf, type Tensor } from '../../src/engine/tf.js';
import { setupWebGpu } from '../../src/engine/webgpu.js';
import { DeviceRefusal } from '../../src/engine/webgpu-device-errors.js';
import { releaseFreedMemory } from '../../src/engine/refusal-retry.js';
import { Rng } from '../../src/engine/rng.js';
import { argument } from '../options.js';
import { relativeDifference } from './time-per-call.js';

const chunkMiB = Number(argument('chunk-mib', '1024'));
const mostGiB = Number(argument('most-gib', '192'));
const chunkValues = (chunkMiB * 2 ** 20) / 4;

/** The last value of `chunk`, read back: the read that reports what the device refused since the last. */
async function lastValue(chunk: Tensor): Promise<number> {
  const last = tf.slice(chunk, [chunkValues - 1], [1]);
  try {
    return (await last.data())[0]!;
  } finally {
    last.dispose();
  }
}

/** How the work stopped: a refusal (the autos retry it), another error (they do not), or not at all. */
function stopOf(error: unknown): { kind: string; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  return { kind: error instanceof DeviceRefusal ? 'DeviceRefusal' : 'other error', message };
}

/** A [256, 256] product on the device against the same product in float64 on the host. */
async function productDifference(): Promise<number> {
  const rng = new Rng(5);
  const n = 256;
  const a = Float32Array.from({ length: n * n }, () => rng.uniform() - 0.5);
  const b = Float32Array.from({ length: n * n }, () => rng.uniform() - 0.5);
  const expected = new Float32Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += a[i * n + k]! * b[k * n + j]!;
      expected[i * n + j] = sum;
    }
  const product = tf.tidy(() => tf.matMul(tf.tensor2d(a, [n, n]), tf.tensor2d(b, [n, n])));
  try {
    return relativeDifference((await product.data()) as Float32Array, expected);
  } finally {
    product.dispose();
  }
}

const adapter = await setupWebGpu({ allowFallback: true });
if (!(await tf.setBackend('webgpu'))) throw new Error('cannot switch to webgpu');
const started = performance.now();
const held: Tensor[] = [];
let wrongValues = 0;
let stop: { kind: string; message: string } | undefined;
while (held.length * chunkMiB < mostGiB * 1024) {
  const value = held.length + 1;
  held.push(tf.fill([chunkValues], value));
  try {
    if ((await lastValue(held.at(-1)!)) !== value) wrongValues++;
  } catch (error) {
    stop = stopOf(error);
    break;
  }
}
const heldGiB = ((held.length - (stop === undefined ? 0 : 1)) * chunkMiB) / 1024;
tf.dispose(held);
releaseFreedMemory();
// After the refusal: a product, and one chunk more (smaller than the refused one where that was the binding limit).
const after: Record<string, unknown> = {};
try {
  after['productRelativeDifference'] = await productDifference();
  const again = tf.fill([Math.min(chunkValues, 2 ** 24)], 7);
  const last = tf.slice(again, [again.size - 1], [1]);
  after['chunkAgain'] = (await last.data())[0] === 7;
  tf.dispose([again, last]);
} catch (error) {
  after['error'] = stopOf(error);
}
console.log(
  JSON.stringify(
    {
      adapter: adapter.description || adapter.device,
      chunkMiB,
      mostGiB,
      heldGiB,
      stoppedBy: stop ?? null,
      wrongValues,
      after,
      tensorsLeft: tf.memory().numTensors,
      seconds: Math.round(performance.now() - started) / 1000,
    },
    null,
    2,
  ),
);
process.exit(0);
