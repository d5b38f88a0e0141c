/**
 * Rotary position embeddings in the Hugging Face Llama convention: frequencies duplicated over the two halves of a
 * head, and rotate_half(x) = [-x₂, x₁]. Tables are computed in float64 in JavaScript from the position ids, so left
 * padding (positions counted from each row's first real token) is handled by the caller's position ids.
 */
import type { GradSaveFunc, NamedAttrMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor2D, type Tensor3D } from '../../engine/tf.js';
import { runMultiOutputOp } from '../../engine/ops/multi-output.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import { frozenLinear } from '../../engine/ops/linear.js';
import { ROPE } from '../../engine/kernels/webgpu/rope.js';
import type { WebGpuBackendLike } from '../../engine/kernels/webgpu/shader.js';
import { bindsRopeGradient } from '../../engine/kernels/webgpu/causal-attention.js';
import { ROPE_APPEND, type RopeAppendAttrs } from '../../engine/kernels/webgpu/rope-append.js';
import { derived } from '../../engine/replay/step-values.js';
import type { Llama3RopeScaling } from '../llama/config.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';
import { tapeRecording } from '../../engine/ops/tape-recording.js';
import { CAUSAL_ATTENTION } from '../../engine/kernels/causal-attention.js';
import { ropeSetting } from '../../engine/rope-setting.js';

/** 1 / theta^(2i / headDim) for i < headDim / 2, rescaled for Llama 3 when `scaling` is given. */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling?: Llama3RopeScaling): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  return scaling === undefined ? inv : llama3Frequencies(inv, scaling);
}

/**
 * Llama 3's frequency scaling (transformers' _compute_llama3_parameters): wavelengths longer than
 * original/lowFreqFactor are divided by `factor`, shorter than original/highFreqFactor kept, and those between
 * interpolated smoothly.
 */
export function llama3Frequencies(inverse: Float64Array, scaling: Llama3RopeScaling): Float64Array {
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: original } = scaling;
  const lowFreqWavelength = original / lowFreqFactor;
  const highFreqWavelength = original / highFreqFactor;
  return inverse.map((frequency) => {
    const wavelength = (2 * Math.PI) / frequency;
    if (wavelength < highFreqWavelength) return frequency;
    if (wavelength > lowFreqWavelength) return frequency / factor;
    const smooth = (original / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    return (1 - smooth) * (frequency / factor) + smooth * frequency;
  });
}

export interface RopeTables {
  /** [batch, length, 1, headDim], broadcast over heads. */
  readonly cos: Tensor;
  readonly sin: Tensor;
  /** rotate_half as a matrix (rotateHalfMatrix). */
  readonly rotation: Tensor2D;
}

export function ropeTables(
  positions: Int32Array,
  batchSize: number,
  length: number,
  inverseFrequencies: Float64Array,
): RopeTables {
  const headDim = 2 * inverseFrequencies.length;
  const tables = angleValues(positions, inverseFrequencies);
  const [cos, sin] = [derived([tables], (t) => t.cos), derived([tables], (t) => t.sin)];
  const shape = [batchSize, length, 1, headDim];
  return { cos: tf.tensor(cos, shape), sin: tf.tensor(sin, shape), rotation: rotateHalfMatrix(headDim) };
}

/**
 * The tables of attention that rotates queries and keys itself (webgpu's shaders, `ropeInsideAttention`): each
 * position's cos then sin, [batch, length, 2, headDim] — one binding, where its gradient's shaders bind eight more.
 */
export function joinedRopeTable(
  positions: Int32Array,
  batchSize: number,
  length: number,
  inverseFrequencies: Float64Array,
): Tensor {
  const headDim = 2 * inverseFrequencies.length;
  const tables = angleValues(positions, inverseFrequencies);
  const joined = derived([tables], ({ cos, sin }) => joinedAngles(cos, sin, headDim));
  return tf.tensor(joined, [batchSize, length, 2, headDim]);
}

/** Tables of `headDim` floats a position, cos and sin, as one array: each position's cos, then its sin. */
export function joinedAngles(cos: Float32Array, sin: Float32Array, headDim: number): Float32Array {
  const both = new Float32Array(2 * cos.length);
  for (let p = 0; p < cos.length / headDim; p++) {
    both.set(cos.subarray(p * headDim, (p + 1) * headDim), 2 * p * headDim);
    both.set(sin.subarray(p * headDim, (p + 1) * headDim), (2 * p + 1) * headDim);
  }
  return both;
}

/**
 * Whether attention rotates a layer's queries and keys as it reads them (webgpu's shaders, under MCEVAL_WEBGPU_ROPE's
 * default) for heads of `headDim` — where it reads no past keys and keeps no cache, which the caller decides. On the
 * tape only where the device binds the gradient's nine storage buffers (WebGPU's least limit is eight: there a
 * training step rotates first; the forward's seven always bind).
 */
export function ropeInsideAttention(headDim: number): boolean {
  // McevalRope is registered on webgpu alone: there the attention kernel takes the tables.
  if (headDim % 8 !== 0 || !hasKernel(ROPE) || !hasKernel(CAUSAL_ATTENTION) || ropeSetting() !== 'inside') return false;
  return !tapeRecording() || bindsRopeGradient(tf.backend() as unknown as WebGpuBackendLike);
}

/** cos and sin of the positions' angles, made the way a replayed step makes its own (engine/replay/step-values.ts). */
function angleValues(positions: Int32Array, inverseFrequencies: Float64Array) {
  return derived([positions], (at) => angleTables(at, inverseFrequencies));
}

/** cos and sin of each position's angles, each frequency's twice (the halves rotate together). */
function angleTables(
  positions: Int32Array,
  inverseFrequencies: Float64Array,
): { cos: Float32Array; sin: Float32Array } {
  const half = inverseFrequencies.length;
  const headDim = 2 * half;
  const cos = new Float32Array(positions.length * headDim);
  const sin = new Float32Array(positions.length * headDim);
  for (let i = 0; i < positions.length; i++) {
    for (let f = 0; f < half; f++) {
      const angle = positions[i]! * inverseFrequencies[f]!;
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[i * headDim + f] = c;
      cos[i * headDim + f + half] = c;
      sin[i * headDim + f] = s;
      sin[i * headDim + f + half] = s;
    }
  }
  return { cos, sin };
}

/**
 * rotate_half as a constant matrix R [headDim, headDim] with x·R = [-x₂, x₁]: one 2D product on the fast path,
 * instead of split, negate and concat (slice-type ops cost ~0.2 ms each on tfjs-wasm).
 */
export function rotateHalfMatrix(headDim: number): Tensor2D {
  const half = headDim / 2;
  const matrix = new Float32Array(headDim * headDim);
  for (let i = 0; i < half; i++) {
    matrix[(i + half) * headDim + i] = -1; // output i takes −x[i + half]
    matrix[i * headDim + i + half] = 1; // output i + half takes x[i]
  }
  return tf.tensor2d(matrix, [headDim, headDim]);
}

/**
 * x·cos + rotate_half(x)·sin for x of shape [batch, length, heads, headDim]. The rotation is orthogonal with Rᵀ = −R,
 * so the gradient is dy·cos − (dy·sin)·R: written out, it keeps no activation of its own for the backward pass. On
 * webgpu each direction is mceval's elementwise kernel (engine/kernels/webgpu/rope.ts).
 */
export function applyRope(x: Tensor, tables: RopeTables): Tensor {
  // Where the backend has mceval's RoPE kernel (webgpu), each direction is one elementwise dispatch.
  const kernel = hasKernel(ROPE);
  const byKernel = (input: Tensor, cos: Tensor, sin: Tensor, backward: boolean) =>
    tf.engine().runKernel(ROPE, { x: input, cos, sin }, { backward } as unknown as NamedAttrMap) as Tensor;
  const rotate = tf.customGrad(((input: Tensor, save: GradSaveFunc) => {
    save([tables.cos, tables.sin, tables.rotation]);
    return {
      value: kernel
        ? byKernel(input, tables.cos, tables.sin, false)
        : tf.add(tf.mul(input, tables.cos), tf.mul(frozenLinear(input, tables.rotation), tables.sin)),
      gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => {
        const [cos, sin, rotation] = saved as [Tensor, Tensor, Tensor2D];
        return [
          kernel ? byKernel(dy, cos, sin, true) : tf.sub(tf.mul(dy, cos), frozenLinear(tf.mul(dy, sin), rotation)),
        ];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (a: Tensor) => Tensor;
  return rotate(x);
}

/** x as [batch, length, heads, headDim]: itself where it is so already, else [batch, length, heads·headDim] cut. */
function byHeads(x: Tensor, headDim: number): Tensor {
  return x.rank === 4 ? x : tf.reshape(x, [...x.shape.slice(0, -1), x.shape.at(-1)! / headDim, headDim]);
}

/** y in `like`'s shape (the same values by heads or not). */
const shapedLike = (y: Tensor, like: Tensor) => (y.rank === like.rank ? y : tf.reshape(y, like.shape));

/**
 * applyRope of a layer's queries and keys (their own head counts), each given and returned as [batch, length, heads,
 * headDim] or [batch, length, heads·headDim]. On webgpu one dispatch rotates both and one their gradients, the heads
 * cut inside the op, where reshapes are not recorded on the tape (a decoder layer's attention took four taped
 * reshapes); elsewhere each is applyRope's.
 */
export function applyRopePair(q: Tensor, k: Tensor, tables: RopeTables): [Tensor, Tensor] {
  const headDim = tables.cos.shape.at(-1)!;
  if (!hasKernel(ROPE))
    return [
      shapedLike(applyRope(byHeads(q, headDim), tables), q),
      shapedLike(applyRope(byHeads(k, headDim), tables), k),
    ];
  const both = (a: Tensor, b: Tensor, cos: Tensor, sin: Tensor, backward: boolean) => {
    const inputs = { x: byHeads(a, headDim), x2: byHeads(b, headDim), cos, sin };
    const [ra, rb] = tf.engine().runKernel(ROPE, inputs, { backward } as unknown as NamedAttrMap) as Tensor[];
    return [shapedLike(ra!, a), shapedLike(rb!, b)];
  };
  return runMultiOutputOp([q, k], {
    forward([qIn, kIn], save) {
      save([tables.cos, tables.sin]);
      return both(qIn!, kIn!, tables.cos, tables.sin, false);
    },
    backward([dq, dk], [cos, sin]) {
      return both(dq!, dk!, cos!, sin!, true);
    },
  }) as [Tensor, Tensor];
}

/**
 * A layer's KV cache: keys (after RoPE) and values, [batch, positions, heads·headDim] each. On webgpu a cache has room
 * for the positions of later steps, its positions from `length` on holding nothing yet.
 */
export interface KeysAndValues {
  readonly keys: Tensor3D;
  readonly values: Tensor3D;
}

/** A layer's cache and how many of its first positions hold keys. */
export interface HeldKeysAndValues extends KeysAndValues {
  readonly length: number;
}

/**
 * Whether a KV cache made now has room for later steps' positions, which they write into (McevalRopeAppend: webgpu, off
 * the tape); elsewhere a cache holds its keys alone and each step makes it anew.
 */
export function cachesKeepRoom(): boolean {
  return hasKernel(ROPE_APPEND) && !tapeRecording();
}

/** A cache tensor's first `positions` positions: itself where it has no room beyond them, else a slice. */
export function heldPositions(t: Tensor3D, positions: number): Tensor3D {
  return t.shape[1] === positions ? t : (tf.slice(t, [0, 0, 0], [-1, positions, -1]) as Tensor3D);
}

/**
 * A layer's queries and keys rotated (each [batch, length, heads, headDim] or [batch, length, heads·headDim] in, `q`
 * out in its shape) and its KV cache: `past` extended by the new keys, rotated, and values ([batch, length,
 * heads·headDim]), or these alone without a past.
 *
 * Decoding off the tape on webgpu (McevalRopeAppend, engine/kernels/webgpu/rope-append.ts) makes the cache with room
 * for `capacity` positions and writes each later step's keys and values into it, where they fit and nothing else holds
 * the past's buffers: one dispatch (two where the device binds fewer buffers than the queries take) where RoPE and the
 * two concatenations took three, and the same values as the ops. The caller gives up the past it passes. Elsewhere —
 * cpu and wasm, or a step recorded for a backward pass — the ops, and a cache with no room beyond its keys.
 */
export function rotateIntoCache(
  q: Tensor,
  k: Tensor,
  v: Tensor3D,
  past: HeldKeysAndValues | undefined,
  tables: RopeTables,
  capacity = 0,
): { q: Tensor; cache: KeysAndValues } {
  const length = k.shape[1]!;
  const headDim = tables.cos.shape.at(-1)!;
  const held = past?.length ?? 0;
  if (!cachesKeepRoom() || (past === undefined && capacity === 0)) {
    const [rotatedQ, rotatedK] = applyRopePair(q, k, tables);
    const keys = shapedLike(rotatedK, v) as Tensor3D;
    if (past === undefined) return { q: rotatedQ, cache: { keys, values: v } };
    const cache = {
      keys: tf.concat([heldPositions(past.keys, held), keys], 1) as Tensor3D,
      values: tf.concat([heldPositions(past.values, held), v], 1) as Tensor3D,
    };
    return { q: rotatedQ, cache };
  }
  // A past with room for these positions keeps its capacity, so that they are written into it.
  const room = past !== undefined && past.keys.shape[1] >= held + length ? past.keys.shape[1] : 0;
  const attrs: RopeAppendAttrs = { past: held, capacity: Math.max(capacity, held + length, room) };
  const inputs = {
    keys: byHeads(k, headDim),
    values: v,
    cos: tables.cos,
    sin: tables.sin,
    queries: byHeads(q, headDim),
    ...(past === undefined ? {} : { pastKeys: past.keys, pastValues: past.values }),
  };
  const [keys, values, rotatedQ] = tf
    .engine()
    .runKernel(ROPE_APPEND, inputs, attrs as unknown as NamedAttrMap) as Tensor[];
  return { q: shapedLike(rotatedQ!, q), cache: { keys: keys as Tensor3D, values: values as Tensor3D } };
}
