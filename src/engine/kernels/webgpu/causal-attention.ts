/**
 * `McevalCausalAttention` and `McevalCausalAttentionGrad` on webgpu: the kernels of engine/kernels/causal-attention.ts
 * (same inputs, attributes and outputs) as WGSL shaders (attention-wgsl.ts). Against the composite path they replace,
 * per layer and step, the head transposes, two batched products per direction, the softmax and its gradient, and the
 * [batch, heads, queries, keys] scores and probabilities kept for the backward pass: memory stays linear in the
 * sequence length. A shader writes one buffer, so the forward output and its log-sum-exp (and dk and dv) are written
 * into one and copied apart.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { CAUSAL_ATTENTION, CAUSAL_ATTENTION_GRAD, type CausalAttentionAttrs } from '../causal-attention.js';
import {
  ATTENTION_UNIFORMS,
  ATTENTION_WORKGROUP,
  attentionForwardCode,
  attentionKeyGradientCode,
  attentionQueryGradientCode,
} from './attention-wgsl.js';
import { runShader, sliceOf, tileFitting, type ShaderUniform, type WebGpuBackendLike } from './shader.js';

interface Geometry {
  readonly batch: number;
  readonly queries: number;
  readonly keys: number;
  readonly kvHeads: number;
  readonly entries: number;
  readonly rows: number;
  readonly dh4: number;
}

function geometry(q: TensorInfo, k: TensorInfo, attrs: CausalAttentionAttrs): Geometry {
  const [batch, queries, width] = q.shape as [number, number, number];
  const headDim = width / attrs.heads;
  if (headDim % 4 !== 0) throw new Error(`webgpu attention needs a head size divisible by 4, not ${headDim}`);
  return {
    batch,
    queries,
    keys: k.shape[1]!,
    kvHeads: attrs.kvHeads,
    entries: batch * attrs.kvHeads,
    rows: (attrs.heads / attrs.kvHeads) * queries,
    dh4: headDim / 4,
  };
}

function uniforms(g: Geometry, split: number, scale: number): ShaderUniform[] {
  const ints = [g.rows, g.queries, g.keys, g.kvHeads, g.rows / g.queries, split];
  return [...ints.map((value) => ({ type: 'int32' as const, data: [value] })), { type: 'float32', data: [scale] }];
}

/** Keys (or rows) per workgroup tile: two tiles of dh floats each, within the device's workgroup storage. */
function tile(backend: WebGpuBackendLike, g: Geometry): number {
  // The fixed part: the per-row arrays and limits (64 words at most) and the shared scalars.
  return tileFitting(backend, 2 * g.dh4 * 16 + 16, 4 * ATTENTION_WORKGROUP + 64, 64);
}

const VECTORS = ['q', 'k', 'v'].map((name) => ({ name, components: 4 as const }));

/** Runs a shader with the key mask uploaded for the call (it is an attribute: a few int32 per batch row). */
function withKeyMask<T>(
  backend: WebGpuBackendLike,
  attrs: CausalAttentionAttrs,
  g: Geometry,
  run: (mask: TensorInfo) => T,
) {
  const mask = backend.makeTensorInfo([g.batch, g.keys], 'int32', attrs.keyMask);
  try {
    return run(mask);
  } finally {
    // tfjs keeps a buffer still used by recorded commands until they are submitted.
    backend.disposeData(mask.dataId);
  }
}

const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v } = inputs as { q: TensorInfo; k: TensorInfo; v: TensorInfo };
  const gpu = backend as unknown as WebGpuBackendLike;
  const attributes = attrs as unknown as CausalAttentionAttrs;
  const g = geometry(q, k, attributes);
  const outputSize = q.shape.reduce((a, b) => a * b, 1);
  const t = tile(gpu, g);
  const combined = withKeyMask(gpu, attributes, g, (mask) =>
    runShader(
      gpu,
      {
        key: `McevalAttentionForward_${g.dh4}_${t}`,
        inputs: [...VECTORS, { name: 'keyMask', components: 1 }],
        uniforms: ATTENTION_UNIFORMS,
        workgroupSize: ATTENTION_WORKGROUP,
        dispatch: [Math.ceil(g.rows / ATTENTION_WORKGROUP), g.entries],
        outputSize: outputSize + g.entries * g.rows,
        code: attentionForwardCode(g.dh4, t),
      },
      [q, k, v, mask],
      uniforms(g, outputSize, attributes.scale),
    ),
  );
  try {
    return [
      sliceOf(gpu, combined, 0, outputSize, [...q.shape]),
      sliceOf(gpu, combined, outputSize, g.entries * g.rows, [g.entries, g.rows]),
    ];
  } finally {
    gpu.disposeData(combined.dataId);
  }
};

const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v, out, lse, dy } = inputs as Record<'q' | 'k' | 'v' | 'out' | 'lse' | 'dy', TensorInfo>;
  const gpu = backend as unknown as WebGpuBackendLike;
  const attributes = attrs as unknown as CausalAttentionAttrs;
  const g = geometry(q, k, attributes);
  const t = tile(gpu, g);
  const names = [
    ...VECTORS,
    { name: 'attended', components: 4 as const },
    { name: 'dy', components: 4 as const },
    { name: 'keyMask', components: 1 as const },
    { name: 'lse', components: 1 as const },
  ];
  const querySize = q.shape.reduce((a, b) => a * b, 1);
  const keySize = k.shape.reduce((a, b) => a * b, 1);
  return withKeyMask(gpu, attributes, g, (mask) => {
    const shaderInputs = [q, k, v, out, dy, mask, lse];
    const run = (name: string, code: string, perEntry: number, outputSize: number, split: number) =>
      runShader(
        gpu,
        {
          key: `${name}_${g.dh4}_${t}`,
          inputs: names,
          uniforms: ATTENTION_UNIFORMS,
          workgroupSize: ATTENTION_WORKGROUP,
          dispatch: [Math.ceil(perEntry / ATTENTION_WORKGROUP), g.entries],
          outputSize,
          code,
        },
        shaderInputs,
        uniforms(g, split, attributes.scale),
      );
    const dq = run('McevalAttentionQueryGradient', attentionQueryGradientCode(g.dh4, t), g.rows, querySize, 0);
    const keyValue = run(
      'McevalAttentionKeyGradient',
      attentionKeyGradientCode(g.dh4, t),
      g.keys,
      2 * keySize,
      keySize,
    );
    try {
      return [
        { dataId: dq.dataId, shape: [...q.shape], dtype: 'float32' as const },
        sliceOf(gpu, keyValue, 0, keySize, [...k.shape]),
        sliceOf(gpu, keyValue, keySize, keySize, [...v.shape]),
      ];
    } finally {
      gpu.disposeData(keyValue.dataId);
    }
  });
};

export function webGpuAttentionKernels(): KernelConfig[] {
  return [
    { kernelName: CAUSAL_ATTENTION, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: CAUSAL_ATTENTION_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
