/**
 * `McevalAdamW` on webgpu (the contract of engine/kernels/adamw-update.ts: inputs p0, g0, m0, v0, p1, … and the
 * gradients' optional `scale`; six coefficients per parameter; outputs the new p of each; m and v updated in place) as
 * one elementwise shader for as many parameters as the device lets it bind (three at 16 storage buffers, one at the
 * minimum 8) where tfjs's ops take fourteen dispatches per parameter: m ← β₁m + (1 − β₁)g and v ← β₂v + (1 − β₂)g²
 * written back into the moments' own buffers (writable inputs, shader.ts), and p′ = p·(1 − lr·λ) − (m / (√v / √(1 −
 * β₂ᵗ) + ε))·lr / (1 − β₁ᵗ) into a new one. The same float32 operations in the same order as the tfjs ops, though a GPU
 * may fuse a multiply and an add.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { ADAMW_UPDATE, COEFFICIENT_KEYS } from '../adamw-update.js';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  forgetHostCopy,
  runShader,
  storageBuffersPerShader,
  type ShaderUniform,
  type WebGpuBackendLike,
} from './shader.js';

const WORKGROUP = 256;

/** Buffers one parameter binds: p, g, m, v and its new value. */
const BUFFERS_PER_PARAMETER = 5;

// 1 − β is computed in float64 and rounded, as the tfjs ops' scalar is (1 − 0.999 in float32 is 1.3e-5 off).
const FIELDS = [
  'count : i32',
  'beta1 : f32',
  'oneMinusBeta1 : f32',
  'beta2 : f32',
  'oneMinusBeta2 : f32',
  'correction2 : f32',
  'epsilon : f32',
  'decay : f32',
  'stepSize : f32',
];

/** Parameter k's uniform fields (suffix _k), inputs (p, g, m, v and, after the first, its new value) and update. */
const uniformsOf = (k: number) => FIELDS.map((field) => field.replace(' :', `_${k} :`)).join(', ') + ',';

function inputsOf(k: number) {
  return [
    { name: `p${k}`, components: 1 as const },
    { name: `g${k}`, components: 1 as const },
    { name: `m${k}`, components: 1 as const, writable: true },
    { name: `v${k}`, components: 1 as const, writable: true },
    ...(k === 0 ? [] : [{ name: `next${k}`, components: 1 as const, writable: true }]),
  ];
}

function updateOf(k: number, scaled: boolean): string {
  const u = (name: string) => `uniforms.${name}_${k}`;
  return `
  if (i < ${u('count')}) {
    let gradient = g${k}[i]${scaled ? ' * scale[0]' : ''};
    let moment = m${k}[i] * ${u('beta1')} + gradient * ${u('oneMinusBeta1')};
    let second = v${k}[i] * ${u('beta2')} + (gradient * gradient) * ${u('oneMinusBeta2')};
    m${k}[i] = moment;
    v${k}[i] = second;
    let denominator = sqrt(second) / ${u('correction2')} + ${u('epsilon')};
    ${k === 0 ? 'result' : `next${k}`}[i] = p${k}[i] * ${u('decay')} - (moment / denominator) * ${u('stepSize')};
  }`;
}

/** Parameters one dispatch updates: as many as the device lets a shader bind storage buffers for, beside the scale. */
function parametersPerDispatch(backend: WebGpuBackendLike, scaled: boolean): number {
  const buffers = storageBuffersPerShader(backend) - (scaled ? 1 : 0);
  return Math.max(1, Math.floor(buffers / BUFFERS_PER_PARAMETER));
}

interface Parameter {
  readonly p: TensorInfo;
  readonly g: TensorInfo;
  readonly m: TensorInfo;
  readonly v: TensorInfo;
  readonly size: number;
  readonly uniforms: ShaderUniform[];
}

/** Updates `parameters` in one dispatch, their gradients multiplied by `scale` if given; returns their new values. */
function updateTogether(gpu: WebGpuBackendLike, parameters: readonly Parameter[], scale?: TensorInfo): TensorInfo[] {
  const largest = Math.max(...parameters.map((parameter) => parameter.size));
  const next = parameters.slice(1).map((parameter) => gpu.makeTensorInfo([parameter.size], 'float32'));
  const count = parameters.length;
  const first = runShader(
    gpu,
    {
      key: `McevalAdamW_${count}_${Number(scale !== undefined)}`,
      inputs: [
        ...(scale === undefined ? [] : [{ name: 'scale', components: 1 as const }]),
        ...parameters.flatMap((_, k) => inputsOf(k)),
      ],
      uniforms: parameters.map((_, k) => uniformsOf(k)).join(' '),
      workgroupSize: WORKGROUP,
      dispatch: elementwiseDispatch(largest, WORKGROUP),
      outputSize: parameters[0]!.size,
      code: `
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};${parameters.map((_, k) => updateOf(k, scale !== undefined)).join('')}
}
`,
    },
    [
      ...(scale === undefined ? [] : [scale]),
      ...parameters.flatMap(({ p, g, m, v }, k) => [p, g, m, v, ...(k === 0 ? [] : [next[k - 1]!])]),
    ],
    parameters.flatMap((parameter) => parameter.uniforms),
  );
  // A host copy left by an earlier read of the moments would now be stale.
  parameters.forEach(({ m, v }) => [m, v].forEach((moment) => forgetHostCopy(gpu, moment)));
  return [first, ...next].map((info, k) => ({
    dataId: info.dataId,
    shape: [...parameters[k]!.p.shape],
    dtype: 'float32',
  }));
}

const adamwUpdate: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const flat = (attrs as unknown as { coefficients: number[] }).coefficients;
  const parameters = Array.from({ length: flat.length / COEFFICIENT_KEYS.length }, (_, i): Parameter => {
    const [p, g, m, v] = ['p', 'g', 'm', 'v'].map((name) => inputs[`${name}${i}`]!) as TensorInfo[];
    const size = p!.shape.reduce((a, b) => a * b, 1);
    const [beta1, beta2, ...rest] = flat.slice(i * COEFFICIENT_KEYS.length, (i + 1) * COEFFICIENT_KEYS.length);
    const uniforms: ShaderUniform[] = [
      { type: 'int32', data: [size] },
      ...[beta1!, 1 - beta1!, beta2!, 1 - beta2!, ...rest].map((value) => ({
        type: 'float32' as const,
        data: [value],
      })),
    ];
    return { p: p!, g: g!, m: m!, v: v!, size, uniforms };
  });
  const scale = inputs['scale'];
  const perDispatch = parametersPerDispatch(gpu, scale !== undefined);
  const outputs: TensorInfo[] = [];
  for (let at = 0; at < parameters.length; at += perDispatch) {
    outputs.push(...updateTogether(gpu, parameters.slice(at, at + perDispatch), scale));
  }
  return outputs;
};

export function webGpuAdamwUpdateKernel(): KernelConfig {
  return { kernelName: ADAMW_UPDATE, backendName: 'webgpu', kernelFunc: adamwUpdate };
}
