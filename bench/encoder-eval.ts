/**
 * bench/encoder-eval: an encoder's classification of one batch in evaluation (what a GLUE task's dev set runs), with a
 * random RoBERTa-style classifier of the given size. Prints JSON: milliseconds, the most tensor bytes the pass held at
 * once above the weights', and the sum of the logits (equal from one version to another when only the speed or memory
 * changed). On webgpu an untimed pass first compiles the pipelines.
 *
 *   node dist/bench/encoder-eval.js [--hidden 768] [--layers 12] [--heads 12] [--length 128] [--batch 8]
 *     [--backend wasm|cpu|webgpu]
 */
import { tf } from '../src/engine/tf.js';
import { initEngine } from '../src/engine/backends.js';
import { watchPeakTensorBytes } from '../src/engine/peak-bytes.js';
import { Rng } from '../src/engine/rng.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { argument } from './options.js';
import { randomEncoder } from './random-encoder.js';

const hidden = Number(argument('hidden', '768'));
const layers = Number(argument('layers', '12'));
const heads = Number(argument('heads', '12'));
const length = Number(argument('length', '128'));
const batchSize = Number(argument('batch', '8'));
const backendName = argument('backend', 'wasm');
if (backendName !== 'wasm' && backendName !== 'cpu' && backendName !== 'webgpu')
  throw new Error('--backend is wasm, cpu or webgpu');
const backend = await initEngine(backendName);

const vocabSize = 1000;
const model = randomEncoder({ layers, hidden, heads, vocabSize, maxLength: length });
const rng = new Rng(7);
const batch = {
  batchSize,
  length,
  ids: Int32Array.from({ length: batchSize * length }, () => 3 + rng.integer(vocabSize - 3)),
  mask: new Int32Array(batchSize * length).fill(1),
};
// Read asynchronously: webgpu in Node has no synchronous reads.
const classify = async () => {
  const logits = tf.tidy(() => model.classify(batch, EVAL_CONTEXT));
  try {
    return (await logits.data()) as Float32Array;
  } finally {
    logits.dispose();
  }
};
if (backend.tfName === 'webgpu') await classify();
const weightBytes = tf.memory().numBytes;
const peak = watchPeakTensorBytes();
const started = performance.now();
const values = await classify();
const ms = performance.now() - started;
peak.stop();
model.dispose();
console.log(
  JSON.stringify(
    {
      backend: backend.tfName,
      model: { hidden, layers, heads, intermediate: 4 * hidden },
      batchSize,
      length,
      ms: Math.round(ms),
      tensorPeakBytes: peak.peak - weightBytes,
      logitSum: values.reduce((sum, value) => sum + value, 0),
    },
    null,
    2,
  ),
);
