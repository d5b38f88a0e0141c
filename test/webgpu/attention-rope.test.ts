/**
 * The WGSL attention kernels given RoPE's tables (`turns`) rotate q and k as they load them and hand back dq and dk for
 * the unrotated inputs (engine/kernels/webgpu/attention-rope-wgsl.ts): their output and q, k, v gradients agree with
 * the WebAssembly kernels' on q and k rotated first by the ops (models/layers/rope.ts's applyRopePair on wasm), within
 * attention.test.ts's 2e-5 of the largest value. The tables are random, not cos and sin of angles: an element's own
 * entries and its partner's differ, so a gradient that reads the wrong one fails. Grouped causal heads with left padding
 * and a batch row of no real key; heads of 8 (half a head one vector), 16 and 64 floats; 1, 2 and 8 lanes a row (lanes
 * exchange the halves of a gradient); an encoder's bidirectional attention with dropout. Where the device binds fewer
 * than the gradient's nine storage buffers (WebGPU's default limits), the output agrees and the gradient kernel refuses
 * the tables. The gradients the same bits in one dispatch and in two (attention.test.ts). Also: the kernels refuse
 * tables with past keys, and the wasm ones refuse tables at all. No tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor3D } from '../../src/engine/tf.js';
import { assertAgree } from './agreement.js';
import { AttentionMask, fusedAttention } from '../../src/models/layers/causal-attention.js';
import { applyRopePair, joinedAngles, rotateHalfMatrix, type RopeTables } from '../../src/models/layers/rope.js';
import { withEnv } from '../helpers.js';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import { CAUSAL_ATTENTION_GRAD } from '../../src/engine/kernels/causal-attention.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import {
  assertSameGradients,
  attentionInputs,
  lanesUnavailable,
  outputAndGradients,
  type AttentionCase,
} from './attention-cases.js';
import { drawKey } from '../../src/engine/counter-hash.js';
import { keepThreshold } from '../../src/engine/dropout-bits.js';

/** Self-attention without a past: as many keys as queries, the tables' positions both's. */
const withoutPast = (c: Omit<AttentionCase, 'keys'>): AttentionCase => ({ ...c, keys: c.queries });

const CASES: AttentionCase[] = [
  { batch: 3, queries: 9, heads: 4, kvHeads: 2, headDim: 16, padding: [0, 3, 9] },
  { batch: 2, queries: 7, heads: 2, kvHeads: 1, headDim: 8, padding: [0, 2] },
  { batch: 2, queries: 7, heads: 2, kvHeads: 1, headDim: 8, padding: [0, 2], lanes: '2' },
  ...['1', '2', '8'].map((lanes) => ({
    batch: 2,
    queries: 70,
    heads: 4,
    kvHeads: 2,
    headDim: 64,
    padding: [0, 11],
    lanes,
  })),
  {
    batch: 2,
    queries: 40,
    heads: 4,
    kvHeads: 4,
    headDim: 32,
    padding: [5, 0],
    lanes: '8',
    encoder: true,
    dropout: true,
  },
].map(withoutPast);

const DROPOUT = { key: drawKey(9), threshold: keepThreshold(0.8), scale: 1 / 0.8 };

/** Random tables [batch, length, 1, dh] each, and joined as the kernels take them ([batch, length, 2, dh]). */
function randomTables(rng: Rng, c: AttentionCase): { tables: RopeTables; turns: Tensor } {
  const size = c.batch * c.queries * c.headDim;
  const [cos, sin] = [rng.normalArray(size), rng.normalArray(size)];
  const joined = joinedAngles(cos, sin, c.headDim);
  const shape = [c.batch, c.queries, 1, c.headDim];
  return {
    tables: { cos: tf.tensor(cos, shape), sin: tf.tensor(sin, shape), rotation: rotateHalfMatrix(c.headDim) },
    turns: tf.tensor(joined, [c.batch, c.queries, 2, c.headDim]),
  };
}

/** Output, dq, dk and dv: on wasm with q and k rotated by the ops, on webgpu by the kernels; without `gradients`, out. */
async function run(backend: 'wasm' | 'webgpu', c: AttentionCase, gradients: boolean): Promise<number[][]> {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const rng = new Rng(17);
  const inputs = attentionInputs(c, rng);
  const { tables, turns } = randomTables(rng, c);
  const { mask, heads } = inputs;
  const dropout = c.dropout === true ? DROPOUT : undefined;
  const attend = (q: Tensor3D, k: Tensor3D, v: Tensor3D) => {
    if (backend === 'webgpu') return fusedAttention(q, k, v, mask, heads, dropout, turns);
    const [rq, rk] = applyRopePair(q, k, tables) as Tensor3D[];
    return fusedAttention(rq!, rk!, v, mask, heads, dropout);
  };
  const arrays = await outputAndGradients(attend, inputs, gradients);
  tf.dispose([tables.cos, tables.sin, tables.rotation, turns]);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the attention call`);
  return arrays;
}

for (const c of CASES) {
  const lanes = c.lanes === undefined ? 'lanes by head size' : `${c.lanes} lanes`;
  const kind = c.encoder === true ? 'bidirectional, dropout' : 'causal';
  test(`webgpu attention rotating q and k agrees with wasm's on rotated inputs (${kind}): B ${c.batch}, T ${c.queries}, H ${c.heads}/${c.kvHeads}, dh ${c.headDim}, ${lanes}`, async (t) => {
    const unavailable = await lanesUnavailable(c);
    if (unavailable !== undefined) {
      t.skip(unavailable);
      return;
    }
    // The gradient's shaders bind nine storage buffers: at WebGPU's default eight, the forward alone (scoring).
    const gradients = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike) >= 9;
    const reference = await run('wasm', c, true);
    const candidate = await withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', c.lanes, () => run('webgpu', c, gradients));
    const labels = gradients ? ['output', 'dq', 'dk', 'dv'] : ['output'];
    labels.forEach((label, i) => assertAgree(label, candidate[i]!, reference[i]!, 2e-5));
    if (!gradients) return;
    const apart = await withEnv('MCEVAL_WEBGPU_ATTENTION_GRADIENT', 'apart', () =>
      withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', c.lanes, () => run('webgpu', c, true)),
    );
    assertSameGradients(candidate, apart);
  });
}

test('attention kernels refuse RoPE tables with past keys (webgpu) and at all (wasm)', async () => {
  for (const backend of ['webgpu', 'wasm'] as const) {
    await initEngine(backend);
    const before = tf.memory().numTensors;
    const c = withoutPast({ batch: 1, queries: 2, heads: 2, kvHeads: 2, headDim: 8, padding: [0] });
    const { tables, turns } = randomTables(new Rng(1), c);
    const q = tf.zeros([1, 2, 16]) as Tensor3D;
    const kv = tf.zeros([1, 3, 16]) as Tensor3D;
    const heads = { query: 2, keyValue: 2 };
    const past = new AttentionMask(new Int32Array(3).fill(1), 1, 2, 3);
    const same = new AttentionMask(new Int32Array(2).fill(1), 1, 2, 2);
    const expected = backend === 'webgpu' ? /only without past keys: 2 queries, 3 keys/ : /take q and k after RoPE/;
    assert.throws(() => fusedAttention(q, kv, kv, past, heads, undefined, turns), expected);
    if (backend === 'wasm') assert.throws(() => fusedAttention(q, q, q, same, heads, undefined, turns), expected);
    // Where the device binds fewer storage buffers than the gradient's shaders take with the tables, it is refused.
    if (backend === 'webgpu' && storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike) < 9) {
      const attrs = { keyMask: new Int32Array(2).fill(1), heads: 2, kvHeads: 2, scale: 1, causal: true };
      const lse = tf.zeros([2, 2, 2]);
      const inputs = { q, k: q, v: q, out: q, lse, dy: q, turns };
      assert.throws(
        () => tf.engine().runKernel(CAUSAL_ATTENTION_GRAD, inputs, attrs as unknown as NamedAttrMap),
        /binds 9 storage buffers; this device binds 8/,
      );
      lse.dispose();
    }
    tf.dispose([q, kv, tables.cos, tables.sin, tables.rotation, turns]);
    assert.equal(tf.memory().numTensors, before);
  }
});
