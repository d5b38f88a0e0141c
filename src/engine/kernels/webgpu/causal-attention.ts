/**
 * `McevalCausalAttention` and `McevalCausalAttentionGrad` on webgpu: the kernels of engine/kernels/causal-attention.ts
 * (same inputs, attributes and outputs) as WGSL shaders (attention-wgsl.ts). Against the composite path they replace,
 * per layer and step, the head transposes, two batched products per direction, the softmax and its gradient, and the
 * [batch, heads, queries, keys] scores and probabilities kept for the backward pass: memory stays linear in the
 * sequence length. The forward's log-sum-exp and dv are second outputs, written as writable inputs (shader.ts);
 * the log-sum-exp is kept with room for each row's D = Σ dy·out beside it, which dq's shader writes for dk's where
 * the two are dispatched apart. Where the device binds its buffers, one dispatch runs both (dk a third output), and
 * dk's side sums D itself (MCEVAL_WEBGPU_ATTENTION_GRADIENT).
 *
 * Given RoPE's tables as a fourth input, `turns` (models/layers/rope.ts's joinedRopeTable), q and k come before RoPE:
 * the shaders rotate them as they load them and hand back dq and dk for them (attention-rope-wgsl.ts).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  attentionReach,
  CAUSAL_ATTENTION,
  CAUSAL_ATTENTION_GRAD,
  type CausalAttentionAttrs,
} from '../causal-attention.js';
import {
  ATTENTION_UNIFORMS,
  type AttentionShaderShape,
  attentionWorkgroup,
  attentionForwardCode,
  attentionGradientCode,
  attentionKeyGradientCode,
  attentionQueryGradientCode,
  laneDirectives,
} from './attention-wgsl.js';
import { dropoutUniformValues } from './hashed-dropout-wgsl.js';
import { attentionLaneSetting, attentionLanes, subgroupFloor } from './attention-lanes.js';
import { webGpuAdapterReport } from '../../webgpu.js';
import {
  floatUniform,
  intUniform,
  runShader,
  shaped,
  sizeOf,
  storageBuffersPerShader,
  tileFitting,
  withHostInt32,
  type ShaderInput,
  type ShaderUniform,
  type WebGpuBackendLike,
} from './shader.js';
import { derived } from '../../replay/step-values.js';
import { environmentChoice } from '../../environment-choice.js';

interface Geometry {
  readonly batch: number;
  readonly queries: number;
  /** The keys attended to: the key mask's per batch row. */
  readonly keys: number;
  /** Positions per batch row in k and v: more than `keys` in a KV cache with room for later steps. */
  readonly keyStride: number;
  readonly kvHeads: number;
  readonly entries: number;
  readonly rows: number;
  readonly dh4: number;
  /** Invocations per row or key (attention-lanes.ts). */
  readonly lanes: number;
  /** Whether the probabilities are dropped (shaders are compiled with or without it). */
  readonly dropout: boolean;
  /** Whether q and k come before RoPE, its tables given. */
  readonly rope: boolean;
}

function geometry(q: TensorInfo, k: TensorInfo, attrs: CausalAttentionAttrs, turns?: TensorInfo): Geometry {
  const [batch, queries, width] = q.shape as [number, number, number];
  const headDim = width / attrs.heads;
  if (headDim % 4 !== 0) throw new Error(`webgpu attention needs a head size divisible by 4, not ${headDim}`);
  const dh4 = headDim / 4;
  const keys = attrs.keyMask.length / batch;
  if (!Number.isInteger(keys) || keys > k.shape[1]!) {
    throw new Error(`webgpu attention: a key mask of ${attrs.keyMask.length} does not fit k [${k.shape}]`);
  }
  if (turns !== undefined) checkTurns(turns, [batch, queries, headDim], [keys, k.shape[1]!]);
  return {
    batch,
    queries,
    keys,
    keyStride: k.shape[1]!,
    kvHeads: attrs.kvHeads,
    entries: batch * attrs.kvHeads,
    rows: (attrs.heads / attrs.kvHeads) * queries,
    dh4,
    lanes: attentionLanes(dh4, subgroupFloor(webGpuAdapterReport()), attentionLaneSetting()),
    dropout: attrs.dropout !== undefined,
    rope: turns !== undefined,
  };
}

/**
 * Whether the device binds the gradient's shaders with RoPE's tables: seven inputs, their output and the tables
 * (models/layers/rope.ts rotates first on the tape elsewhere).
 */
export function bindsRopeGradient(backend: WebGpuBackendLike): boolean {
  return storageBuffersPerShader(backend) >= ROPE_GRADIENT_BUFFERS;
}

const ROPE_GRADIENT_BUFFERS = 9;

/**
 * RoPE's tables inside attention hold one position per query, the same for keys (self-attention without a past), and
 * turn whole vectors (a head's halves, dh a multiple of 8).
 */
function checkTurns(
  turns: TensorInfo,
  [batch, queries, headDim]: readonly [number, number, number],
  [keys, keyStride]: readonly [number, number],
): void {
  if (keys !== queries || keyStride !== keys) {
    throw new Error(
      `webgpu attention rotates queries and keys only without past keys: ${queries} queries, ${keys} keys`,
    );
  }
  if (headDim % 8 !== 0) throw new Error(`webgpu attention rotates heads of a multiple of 8 floats, not ${headDim}`);
  if (sizeOf(turns) !== batch * queries * 2 * headDim) {
    throw new Error(
      `webgpu attention: RoPE's tables [${turns.shape}] do not hold [${batch}, ${queries}, 2, ${headDim}]`,
    );
  }
}

function uniforms(g: Geometry, attrs: CausalAttentionAttrs): ShaderUniform[] {
  const reach = attentionReach(g.keys, g.queries, attrs.causal);
  const ints = [g.rows, g.queries, g.keys, g.kvHeads, g.rows / g.queries, g.entries, reach, g.keyStride];
  const drop = attrs.dropout;
  return [
    ...ints.map(intUniform),
    floatUniform(attrs.scale),
    ...dropoutUniformValues(drop ?? { key: 0, threshold: 0, scale: 0 }),
  ];
}

/** Keys (or rows) per workgroup tile: two tiles of dh floats each, within the device's workgroup storage. */
function tile(backend: WebGpuBackendLike, g: Geometry): number {
  // Per tile row its vectors and the key shader's four words; fixed, the workgroup's two bounds (a word per
  // invocation each) and the shared scalars.
  return tileFitting(backend, 2 * g.dh4 * 16 + 16, 8 * attentionWorkgroup(g.lanes) + 64, 64);
}

/** Workgroups a row or key shader takes for `count` rows or keys of an entry. */
const workgroupsFor = (g: Geometry, count: number) => Math.ceil(count / (attentionWorkgroup(g.lanes) / g.lanes));

/** What a row or key shader's pipeline depends on, for its key. */
const variant = (g: Geometry, t: number) =>
  `${g.dh4}_${t}_${g.lanes}${g.dropout ? '_dropout' : ''}${g.rope ? '_rope' : ''}`;

/** The shape its code is compiled for. */
const shaderShape = (g: Geometry, tile: number): AttentionShaderShape => ({ ...g, tile });

/** RoPE's tables where the shaders rotate q and k: one more binding, and one more input. */
const turnsOf = (g: Geometry, turns: TensorInfo | undefined) =>
  g.rope ? { bindings: [vector('turns')], inputs: [turns!] } : { bindings: [], inputs: [] };

const vector = (name: string, writable = false) => ({ name, components: 4 as const, writable });
const scalar = (name: string, writable = false) => ({ name, components: 1 as const, writable });

/**
 * Runs a shader with the key mask uploaded for the call (it is an attribute: a few int32 per batch row), laid out as k
 * is: a KV cache's room padded with zeros, so that the upload's size stays the same from one decoding step to the next
 * (tfjs's pool reuses a buffer for the same size only).
 */
function withKeyMask<T>(
  backend: WebGpuBackendLike,
  attrs: CausalAttentionAttrs,
  g: Geometry,
  run: (mask: TensorInfo) => T,
) {
  // Made from the mask the way a replayed step makes its own (engine/replay/step-values.ts).
  const mask = derived([attrs.keyMask], (keyMask) => paddedKeyMask(keyMask, g));
  return withHostInt32(backend, [g.batch, g.keyStride], mask, run);
}

/** The key mask [batch, keys] as [batch, keyStride], zeros after each row's keys. */
function paddedKeyMask(mask: Int32Array, g: Pick<Geometry, 'batch' | 'keys' | 'keyStride'>): Int32Array {
  if (g.keys === g.keyStride) return mask;
  const padded = new Int32Array(g.batch * g.keyStride);
  for (let b = 0; b < g.batch; b++) padded.set(mask.subarray(b * g.keys, (b + 1) * g.keys), b * g.keyStride);
  return padded;
}

const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v, turns } = inputs as { q: TensorInfo; k: TensorInfo; v: TensorInfo; turns?: TensorInfo };
  const gpu = backend as unknown as WebGpuBackendLike;
  const attributes = attrs as unknown as CausalAttentionAttrs;
  const g = geometry(q, k, attributes, turns);
  const t = tile(gpu, g);
  const rope = turnsOf(g, turns);
  // Each row's lse, and a place for its D in the backward pass.
  const lse = gpu.makeTensorInfo([g.entries, g.rows, 2], 'float32');
  const out = withKeyMask(gpu, attributes, g, (mask) =>
    runShader(
      gpu,
      {
        key: `McevalAttentionForward_${variant(g, t)}`,
        inputs: [vector('q'), vector('k'), vector('v'), scalar('keyMask'), scalar('lse', true), ...rope.bindings],
        directives: laneDirectives(g.lanes),
        uniforms: ATTENTION_UNIFORMS,
        workgroupSize: attentionWorkgroup(g.lanes),
        dispatch: [workgroupsFor(g, g.rows), g.entries],
        outputSize: sizeOf(q),
        code: () => attentionForwardCode(shaderShape(g, t)),
      },
      [q, k, v, mask, lse, ...rope.inputs],
      uniforms(g, attributes),
    ),
  );
  return [shaped(out, [...q.shape]), lse];
};

const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v, out, lse, dy, turns } = inputs as Record<'q' | 'k' | 'v' | 'out' | 'lse' | 'dy', TensorInfo> & {
    turns?: TensorInfo;
  };
  const gpu = backend as unknown as WebGpuBackendLike;
  const attributes = attrs as unknown as CausalAttentionAttrs;
  const g = geometry(q, k, attributes, turns);
  const rope = turnsOf(g, turns);
  if (g.rope && !bindsRopeGradient(gpu)) {
    throw new Error(
      `webgpu attention's gradient with RoPE's tables binds ${ROPE_GRADIENT_BUFFERS} storage buffers; this device ` +
        `binds ${storageBuffersPerShader(gpu)}`,
    );
  }
  // Training attends to every position of k: a gradient for a KV cache's room would be left unwritten.
  if (g.keys !== g.keyStride) throw new Error(`webgpu attention's gradient needs a key mask for each of k's keys`);
  const t = tile(gpu, g);
  const dv = gpu.makeTensorInfo([...v.shape], 'float32');
  return withKeyMask(gpu, attributes, g, (mask) => {
    // Each shader binds q, k, v, dy and the key mask, then its own: the stats first, then the tensors it reads or
    // writes beside its output.
    const run = (
      name: string,
      code: () => string,
      workgroups: number,
      outputSize: number,
      bindings: readonly ShaderInput[],
      others: readonly TensorInfo[],
    ) =>
      runShader(
        gpu,
        {
          key: `${name}_${variant(g, t)}`,
          inputs: [
            vector('q'),
            vector('k'),
            vector('v'),
            vector('dy'),
            scalar('keyMask'),
            ...bindings,
            ...rope.bindings,
          ],
          directives: laneDirectives(g.lanes),
          uniforms: ATTENTION_UNIFORMS,
          workgroupSize: attentionWorkgroup(g.lanes),
          dispatch: [workgroups, g.entries],
          outputSize,
          code,
        },
        [q, k, v, dy, mask, lse, ...others, ...rope.inputs],
        uniforms(g, attributes),
      );
    if (gradientsTogether(gpu, g)) {
      // One dispatch: dq its output, dk and dv written beside it; the stats only read (dk's side sums D itself).
      const dk = gpu.makeTensorInfo([...k.shape], 'float32');
      const dq = run(
        'McevalAttentionGradient',
        () => attentionGradientCode(shaderShape(g, t)),
        workgroupsFor(g, g.rows) + workgroupsFor(g, g.keys),
        sizeOf(q),
        [scalar('stats'), vector('attended'), vector('dKey', true), vector('dValue', true)],
        [out, dk, dv],
      );
      return [shaped(dq, [...q.shape]), dk, dv];
    }
    // dq's shader writes each row's D into the stats and reads the forward output; dk's reads D and writes dv.
    const dq = run(
      'McevalAttentionQueryGradient',
      () => attentionQueryGradientCode(shaderShape(g, t)),
      workgroupsFor(g, g.rows),
      sizeOf(q),
      [scalar('stats', true), vector('attended')],
      [out],
    );
    const dk = run(
      'McevalAttentionKeyGradient',
      () => attentionKeyGradientCode(shaderShape(g, t)),
      workgroupsFor(g, g.keys),
      sizeOf(k),
      [scalar('stats'), vector('dValue', true)],
      [dv],
    );
    return [shaped(dq, [...q.shape]), shaped(dk, [...k.shape]), dv];
  });
};

/**
 * MCEVAL_WEBGPU_ATTENTION_GRADIENT: `together` (the default: dq, dk and dv in one dispatch, attention-wgsl.ts's
 * attentionGradientCode, where the device binds its buffers) or `apart` (dq's dispatch, then dk's and dv's, which
 * reads the D that dq's wrote and sums none itself), so that a GPU run can time both. Read at each call, and as the
 * engine starts.
 */
export function attentionGradientSetting(): 'together' | 'apart' {
  return environmentChoice(ATTENTION_GRADIENT_SETTING, ['together', 'apart']);
}

const ATTENTION_GRADIENT_SETTING = 'MCEVAL_WEBGPU_ATTENTION_GRADIENT';

/** The combined shader's storage buffers: its nine inputs and its output, and RoPE's tables where it rotates. */
const gradientBuffers = (g: Geometry) => 10 + Number(g.rope);

/** Whether the backward pass is one dispatch: asked for, and its buffers bound on this device. */
function gradientsTogether(backend: WebGpuBackendLike, g: Geometry): boolean {
  return attentionGradientSetting() === 'together' && storageBuffersPerShader(backend) >= gradientBuffers(g);
}

export function webGpuAttentionKernels(): KernelConfig[] {
  return [
    { kernelName: CAUSAL_ATTENTION, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: CAUSAL_ATTENTION_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
