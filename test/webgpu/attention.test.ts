/**
 * The WGSL attention kernels (engine/kernels/webgpu) against the WebAssembly ones from the same inputs: outputs and
 * q, k, v gradients of grouped-query causal attention with past keys, left padding (past whole key tiles too, which
 * the forward and dq shaders leave out) and a batch row with no real key (every query then attends uniformly), at head sizes 8, 16, 64 and 128 (64 and 128 span several key tiles), with
 * the lanes per row chosen by head size (the adapter has subgroups: lavapipe's hold 8) and with 1, 2, 4 and 8 lanes
 * set by MCEVAL_WEBGPU_ATTENTION_LANES; an encoder's bidirectional attention with right padding; and both with the
 * probabilities dropped by the same hashed mask (1, 8 and the adapter's lanes). Agreement within
 * 2e-5 of the largest value: float32 sums taken in another order. The gradients the same bits whether dq, dk and dv
 * are one dispatch (MCEVAL_WEBGPU_ATTENTION_GRADIENT=together, where the device binds its ten buffers) or two (apart):
 * the key shader's own D sums are the query shader's. Also: the webgpu kernels leave no tensor behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor3D } from '../../src/engine/tf.js';
import { assertAgree } from './agreement.js';
import { fusedAttention } from '../../src/models/layers/causal-attention.js';
import { withEnv } from '../helpers.js';
import {
  assertSameGradients,
  attentionInputs,
  lanesUnavailable,
  outputAndGradients,
  type AttentionCase,
} from './attention-cases.js';
import { drawKey } from '../../src/engine/counter-hash.js';
import { keepThreshold, type HashedDropout } from '../../src/engine/dropout-bits.js';

const DROPOUT: HashedDropout = { key: drawKey(5), threshold: keepThreshold(0.75), scale: 1 / 0.75 };

const CASES: AttentionCase[] = [
  { batch: 3, queries: 5, keys: 9, heads: 4, kvHeads: 2, headDim: 8, padding: [0, 3, 9] },
  { batch: 2, queries: 70, keys: 70, heads: 2, kvHeads: 1, headDim: 64, padding: [0, 11] },
  { batch: 1, queries: 1, keys: 6, heads: 2, kvHeads: 2, headDim: 16, padding: [2] },
  { batch: 2, queries: 40, keys: 45, heads: 4, kvHeads: 2, headDim: 128, padding: [0, 7] },
  // Lanes set: every count the adapter allows at head size 64; 8 at 128; more than a small head has (lowered to fit).
  ...['1', '2', '4', '8'].map((lanes) => ({
    batch: 2,
    queries: 70,
    keys: 75,
    heads: 2,
    kvHeads: 1,
    headDim: 64,
    padding: [0, 11],
    lanes,
  })),
  { batch: 2, queries: 40, keys: 45, heads: 4, kvHeads: 2, headDim: 128, padding: [0, 7], lanes: '8' },
  { batch: 3, queries: 5, keys: 9, heads: 4, kvHeads: 2, headDim: 8, padding: [0, 3, 9], lanes: '8' },
  // Left padding past whole key tiles (a decoding step, new tokens on a cache): the tiles before a workgroup's first
  // real key are left out; with 8 lanes too.
  { batch: 3, queries: 1, keys: 150, heads: 4, kvHeads: 2, headDim: 64, padding: [0, 100, 140] },
  { batch: 3, queries: 1, keys: 150, heads: 4, kvHeads: 2, headDim: 64, padding: [0, 100, 140], lanes: '8' },
  { batch: 2, queries: 3, keys: 140, heads: 2, kvHeads: 1, headDim: 16, padding: [90, 3] },
  // Encoders: every query sees every real key, padding trailing; key tiles of head size 64 span 70 keys.
  { batch: 3, queries: 12, keys: 12, heads: 2, kvHeads: 2, headDim: 8, padding: [0, 4, 9], encoder: true },
  { batch: 2, queries: 70, keys: 70, heads: 2, kvHeads: 2, headDim: 64, padding: [0, 23], encoder: true },
  // Dropout of the probabilities: grouped causal heads with a row of no real key; encoders over several key tiles,
  // with one lane and eight lanes per row.
  { batch: 3, queries: 5, keys: 9, heads: 4, kvHeads: 2, headDim: 8, padding: [0, 3, 9], dropout: true },
  {
    batch: 2,
    queries: 70,
    keys: 70,
    heads: 2,
    kvHeads: 2,
    headDim: 64,
    padding: [0, 23],
    encoder: true,
    dropout: true,
  },
  ...['1', '8'].map((lanes) => ({
    batch: 2,
    queries: 40,
    keys: 40,
    heads: 4,
    kvHeads: 2,
    headDim: 32,
    padding: [5, 0],
    encoder: true,
    dropout: true,
    lanes,
  })),
];

async function run(backend: 'wasm' | 'webgpu', c: AttentionCase) {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const inputs = attentionInputs(c, new Rng(11));
  const dropout = c.dropout === true ? DROPOUT : undefined;
  const attend = (q: Tensor3D, k: Tensor3D, v: Tensor3D) => fusedAttention(q, k, v, inputs.mask, inputs.heads, dropout);
  const arrays = await outputAndGradients(attend, inputs);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the attention call`);
  return arrays;
}

for (const c of CASES) {
  const lanes = c.lanes === undefined ? 'lanes by head size' : `${c.lanes} lanes`;
  const kind = `${c.encoder === true ? 'bidirectional' : 'causal'}${c.dropout === true ? ', dropout' : ''}`;
  test(`webgpu attention kernels agree with wasm (${kind}): B ${c.batch}, T ${c.queries}, S ${c.keys}, H ${c.heads}/${c.kvHeads}, dh ${c.headDim}, ${lanes}`, async (t) => {
    const unavailable = await lanesUnavailable(c);
    if (unavailable !== undefined) {
      t.skip(unavailable);
      return;
    }
    const reference = await run('wasm', c);
    const candidate = await withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', c.lanes, () => run('webgpu', c));
    ['output', 'dq', 'dk', 'dv'].forEach((label, i) => assertAgree(label, candidate[i]!, reference[i]!, 2e-5));
    const apart = await withEnv('MCEVAL_WEBGPU_ATTENTION_GRADIENT', 'apart', () =>
      withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', c.lanes, () => run('webgpu', c)),
    );
    assertSameGradients(candidate, apart);
  });
}
