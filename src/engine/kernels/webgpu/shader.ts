/**
 * Running a WGSL compute shader of mceval's own through tfjs-backend-webgpu (`runWebGPUProgram`), so that it is recorded
 * into the backend's command stream with tfjs's own kernels, its buffers come from tfjs's pool and its pipeline is
 * cached by `key`. tfjs declares the bindings: `result` (the one output, read-write), each input by its name (read
 * only, `array<f32>`, or `array<vec4<f32>>` where its component count is 4) and `uniforms` (tfjs's own fields, then the
 * ones listed in `uniforms`). Every output here is flat (1-D): the kernel gives it its shape afterwards, which costs
 * nothing (`shaped`). The shader's `main()` reads the workgroup and invocation through tfjs's private variables
 * (`workgroupId`, `localIndex`).
 *
 * Two things tfjs's shader assembly cannot express are asked for by marker lines that `patchShaderSource` (installed
 * on the device's createShaderModule by engine/webgpu.ts) acts on: inputs the shader writes in place (`writable`:
 * their declarations become read-write — more outputs than tfjs's one, into buffers the kernel allocated or owns) and
 * WGSL directives (`enable subgroups`, `diagnostic(…)`), which must open the source.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';

export interface ShaderUniform {
  readonly type: 'int32' | 'float32';
  readonly data: number[];
}

/** A uniform field's value: an i32, or an f32. */
export const intUniform = (value: number): ShaderUniform => ({ type: 'int32', data: [value] });
export const floatUniform = (value: number): ShaderUniform => ({ type: 'float32', data: [value] });

export interface WebGpuBackendLike {
  readonly device: { readonly limits: Record<string, number> };
  makeTensorInfo(shape: number[], dtype: 'float32' | 'int32', values?: Float32Array | Int32Array): TensorInfo;
  runWebGPUProgram(
    program: object,
    inputs: TensorInfo[],
    dtype: string,
    uniforms?: ShaderUniform[],
    output?: TensorInfo,
  ): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

export interface ShaderInput {
  readonly name: string;
  readonly components: 1 | 4;
  /** The shader writes this input (in place). */
  readonly writable?: boolean;
}

/** Inputs bound as arrays of scalars, by name; `writable`: the shader writes them in place. */
export const scalarInputs = (names: readonly string[], writable = false): ShaderInput[] =>
  names.map((name) => (writable ? { name, components: 1, writable } : { name, components: 1 }));

export interface Shader {
  /** Identifies the compiled pipeline: everything the WGSL text depends on (tfjs adds the inputs' types). */
  readonly key: string;
  readonly inputs: readonly ShaderInput[];
  /** WGSL directives the code needs, without their semicolons: `enable subgroups`. */
  readonly directives?: readonly string[];
  /** WGSL struct fields after tfjs's own, e.g. `rows : i32, scale : f32,`; values in this order in `run`. */
  readonly uniforms: string;
  readonly workgroupSize: number;
  /** Workgroups along x and y. */
  readonly dispatch: readonly [number, number];
  readonly outputSize: number;
  /**
   * The WGSL after tfjs's declarations: workgroup variables, helpers and `fn main()`. A function: tfjs asks for it
   * only when it compiles the pipeline of a new key, where building the text at every dispatch took about a sixth of
   * the host's time recording a stories260K LoRA step (lavapipe: 37–40 ms a step before, 31–35 after).
   */
  readonly code: () => string;
}

/** Runs `shader`; with `output` given, it writes into that tensor's buffer (in place) instead of a new one. */
export function runShader(
  backend: WebGpuBackendLike,
  shader: Shader,
  inputs: readonly TensorInfo[],
  uniforms: readonly ShaderUniform[],
  output?: TensorInfo,
): TensorInfo {
  const program = {
    outputShape: [shader.outputSize],
    shaderKey: shader.key,
    // Two dispatch axes, so that tfjs calls main() without a flat index.
    dispatchLayout: { x: [0], y: [1] },
    dispatch: [shader.dispatch[0], shader.dispatch[1], 1],
    variableNames: shader.inputs.map((input) => input.name),
    variableComponents: shader.inputs.map((input) => input.components),
    uniforms: shader.uniforms,
    workgroupSize: [shader.workgroupSize, 1, 1],
    getUserCode: () => `${markers(shader)}\n${shader.code()}`,
  };
  return backend.runWebGPUProgram(program, inputs.map(flat), 'float32', [...uniforms], output);
}

/**
 * The tensor as tfjs is handed it: its data as one axis. mceval's shaders index their inputs flat and read none of the
 * shapes and strides tfjs puts in the uniforms for each input, which tfjs works out, writes and adds to the pipeline's
 * key (ranks, broadcast axes) at every dispatch. As one axis, that work is least, and inputs of any rank share a
 * pipeline: a stories260K LoRA step recorded in 0.7–0.8 ms less of 22–34 on lavapipe, with the same losses.
 */
const flat = (input: TensorInfo): TensorInfo => (input.shape.length === 1 ? input : shaped(input, [sizeOf(input)]));

/** The most workgroups one dispatch axis may have. */
const MOST_PER_AXIS = 65535;

/**
 * Workgroups for `count` invocations of an elementwise shader, over two axes when one would exceed the limit; the
 * shader's element index is `ELEMENT_INDEX`.
 */
export function elementwiseDispatch(count: number, workgroupSize: number): [number, number] {
  const groups = Math.ceil(count / workgroupSize);
  return groups <= MOST_PER_AXIS ? [groups, 1] : [MOST_PER_AXIS, Math.ceil(groups / MOST_PER_AXIS)];
}

export const ELEMENT_INDEX = (workgroupSize: number) =>
  `i32((workgroupId.y * numWorkgroups.x + workgroupId.x) * ${workgroupSize}u + localIndex)`;

/**
 * WGSL for `workgroup${name}(value)`: every invocation's value (of `type`) combined by `combine` over a workgroup of
 * `size` invocations (a power of two), by a tree in workgroup memory, in the same order every time, and returned to
 * every invocation. Call it from uniform control flow. It may be called again straight after (LayerNorm's mean, then
 * its variance): the barrier that opens it keeps an invocation from writing the next value over the first partial
 * while another still reads the last result — workgroupUniformLoad's own barrier comes before its read, not after.
 * Without it, Dawn's OpenGL ES backend on Mesa gave LayerNorm outputs off by up to 1.2; lavapipe's Vulkan happened to
 * order the invocations safely.
 */
function workgroupTreeCode(name: string, type: string, size: number, combine: (a: string, b: string) => string) {
  return `
var<workgroup> partial${name} : array<${type}, ${size}>;

fn workgroup${name}(value : ${type}) -> ${type} {
  let t = i32(localIndex);
  workgroupBarrier();
  partial${name}[t] = value;
  workgroupBarrier();
  for (var width = ${size / 2}; width > 0; width /= 2) {
    if (t < width) {
      partial${name}[t] = ${combine(`partial${name}[t]`, `partial${name}[t + width]`)};
    }
    workgroupBarrier();
  }
  return workgroupUniformLoad(&partial${name}[0]);
}
`;
}

/** `workgroupSum(value)` (workgroupTreeCode): the sum, `type` f32 or vec4<f32>. */
export const workgroupSumCode = (type: string, size: number): string =>
  workgroupTreeCode('Sum', type, size, (a, b) => `${a} + ${b}`);

/** `workgroupMax(value)` (workgroupTreeCode): the largest f32. */
export const workgroupMaxCode = (size: number): string =>
  workgroupTreeCode('Max', 'f32', size, (a, b) => `max(${a}, ${b})`);

/**
 * Forgets the host copy tfjs keeps of a tensor it has read back (it serves later reads from it): for a tensor whose
 * buffer a shader has just rewritten in place.
 */
export function forgetHostCopy(backend: WebGpuBackendLike, info: TensorInfo): void {
  const stored = (
    backend as unknown as { tensorMap: { get(id: object): { values?: unknown } | undefined } }
  ).tensorMap.get(info.dataId);
  if (stored !== undefined) stored.values = null;
}

const WRITABLE = '// mceval-writable:';
const DIRECTIVE = '// mceval-directive:';

function markers(shader: Shader): string {
  const writable = shader.inputs.filter((input) => input.writable).map((input) => input.name);
  return [
    ...(writable.length > 0 ? [`${WRITABLE} ${writable.join(' ')}`] : []),
    ...(shader.directives ?? []).map((directive) => `${DIRECTIVE} ${directive}`),
  ].join('\n');
}

const markerNames = (code: string, marker: string) =>
  code
    .split('\n')
    .filter((line) => line.trimStart().startsWith(marker))
    .flatMap((line) => line.trimStart().slice(marker.length).trim().split(/\s+/))
    .filter((name) => name !== '');

/**
 * A WGSL source as tfjs assembled it, with the marker lines' requests carried out: `// mceval-writable: a b` makes the
 * storage declarations of a and b read-write, `// mceval-directive: enable subgroups` puts `enable subgroups;` first.
 * Sources without markers (tfjs's own shaders) are returned unchanged.
 */
export function patchShaderSource(code: string): string {
  if (!code.includes('// mceval-')) return code;
  let patched = code;
  for (const name of markerNames(code, WRITABLE)) {
    const declaration = new RegExp(`var<storage, read>(\\s+${name}\\s*:)`);
    if (!declaration.test(patched)) throw new Error(`shader marks ${name} writable but declares no such input`);
    patched = patched.replace(declaration, 'var<storage, read_write>$1');
  }
  const directives = code
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith(DIRECTIVE))
    .map((line) => `${line.slice(DIRECTIVE.length).trim()};`);
  return directives.length === 0 ? patched : `${directives.join('\n')}\n${patched}`;
}

/**
 * `body` with host values (a mask, noise keys) made a tensor of the call, released when it returns: tfjs keeps a
 * buffer that recorded commands still use until they are submitted.
 */
export function withHostInt32<T>(
  backend: WebGpuBackendLike,
  shape: number[],
  values: Int32Array,
  body: (tensor: TensorInfo) => T,
): T {
  const tensor = backend.makeTensorInfo(shape, 'int32', values);
  try {
    return body(tensor);
  } finally {
    backend.disposeData(tensor.dataId);
  }
}

/** The number of values of a tensor. */
export const sizeOf = (t: TensorInfo) => t.shape.reduce((a, b) => a * b, 1);

/** A tensor's values as a tensor of `shape` (same data, no copy): a flat output given its shape, an input made flat. */
export function shaped(info: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** Bytes one storage buffer binding may span on the device (WebGPU's minimum where the device does not say). */
export function storageBindingBytes(backend: WebGpuBackendLike): number {
  return Number(backend.device.limits['maxStorageBufferBindingSize'] ?? 134217728);
}

/** Bytes of workgroup memory a shader may use on the device (WebGPU's minimum where the device does not say). */
export function workgroupStorageBytes(backend: WebGpuBackendLike): number {
  return Number(backend.device.limits['maxComputeWorkgroupStorageSize'] ?? 16384);
}

/** Storage buffers one shader may bind on the device, its output included (WebGPU's minimum where it does not say). */
export function storageBuffersPerShader(backend: WebGpuBackendLike): number {
  return Number(backend.device.limits['maxStorageBuffersPerShaderStage'] ?? 8);
}

/**
 * The largest power of two ≤ `most` such that `bytesPer` bytes per unit plus `fixed` bytes fit the device's
 * workgroup storage.
 */
export function tileFitting(backend: WebGpuBackendLike, bytesPer: number, fixed: number, most: number): number {
  const limit = workgroupStorageBytes(backend);
  let tile = most;
  while (tile > 1 && tile * bytesPer + fixed > limit) tile /= 2;
  return tile;
}
