/**
 * `McevalHashedNormals` on webgpu: standard normals drawn on the device from counter-based bits, by
 * engine/hashed-normals.ts — row l of the [keys.length, count] output is elements offset … offset + count − 1 of the
 * draw keyed keys[l] — the values the host draws for cpu and wasm (within a few units in the last place: a GPU may
 * fuse a multiply and an add). MonteCLoRA's Gaussian noise, N·d_in·r values per layer and step, is so never drawn on
 * the host nor uploaded. The op takes no tensors: the keys (u32, a few per call) are an attribute, uploaded with the
 * call as the shader's one input.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { ERFINV_CONSTANTS, LOG_CONSTANTS } from '../../hashed-normals.js';
import { TRIPLE32_WGSL } from './counter-hash-wgsl.js';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  intUniform,
  runShader,
  shaped,
  withHostInt32,
  type WebGpuBackendLike,
} from './shader.js';

export const HASHED_NORMALS = 'McevalHashedNormals';

export interface HashedNormalsAttrs {
  /** u32 keys, one per output row. */
  readonly keys: readonly number[];
  /** Values per row. */
  readonly count: number;
  /** The index of each row's first value within its draw. */
  readonly offset: number;
}

const WORKGROUP = 256;

const bitsView = new DataView(new ArrayBuffer(4));

/** A float32 constant as WGSL writes it exactly: the bit pattern (a decimal literal would be rounded once more). */
function exact(value: number): string {
  bitsView.setFloat32(0, value);
  return `bitcast<f32>(0x${bitsView.getUint32(0).toString(16)}u)`;
}

/** `name(w)`: the polynomial with these coefficients (highest degree first) by Horner's rule. */
function polynomialFunction(name: string, coefficients: readonly number[]): string {
  const steps = coefficients.slice(1).map((c) => `  p = p * w + ${exact(c)};`);
  return `fn ${name}(w : f32) -> f32 {\n  var p = ${exact(coefficients[0]!)};\n${steps.join('\n')}\n  return p;\n}`;
}

/**
 * WGSL for `hashedNormal(bits)`, the normal quantile of 32 hashed bits (engine/hashed-normals.ts), with `triple32`, and
 * `hashedNormalAt(k, i)`: element i of the draw keyed k, hashedNormal(triple32(triple32(i) ^ k)).
 */
export const HASHED_NORMAL_WGSL = `
${TRIPLE32_WGSL}
${polynomialFunction('logPolynomial', LOG_CONSTANTS.poly)}
${polynomialFunction('erfinvCentral', ERFINV_CONSTANTS.central)}
${polynomialFunction('erfinvTail', ERFINV_CONSTANTS.tail)}

// Cephes logf on a positive normal float: x = m·2^e, m in [√½, √2).
fn cephesLog(x : f32) -> f32 {
  let bits = bitcast<u32>(x);
  var e = f32(i32(bits >> 23u) - 126);
  let m0 = bitcast<f32>((bits & 0x007fffffu) | 0x3f000000u);
  var m = m0 - 1.0;
  if (m0 < ${exact(LOG_CONSTANTS.sqrtHalf)}) {
    e = e - 1.0;
    m = (m0 + m0) - 1.0;
  }
  let z = m * m;
  var y = logPolynomial(m) * m * z;
  y = y + e * ${exact(LOG_CONSTANTS.q1)};
  y = y - z * 0.5;
  return (m + y) + e * ${exact(LOG_CONSTANTS.q2)};
}

fn hashedNormal(bits : u32) -> f32 {
  let m = bits & 0x7fffffffu;
  let t = f32(m >> 8u) * ${exact(2 ** -23)} + (f32(m & 0xffu) + 0.5) * ${exact(2 ** -31)};
  let w = -cephesLog(t * (2.0 - t));
  var p : f32;
  if (w < 5.0) {
    p = erfinvCentral(w - 2.5);
  } else {
    p = erfinvTail(sqrt(w) - 3.0);
  }
  let z = p * (1.0 - t) * ${exact(ERFINV_CONSTANTS.sqrt2)};
  return bitcast<f32>(bitcast<u32>(z) ^ (bits & 0x80000000u));
}

// Element index of the draw keyed key.
fn hashedNormalAt(key : u32, index : u32) -> f32 {
  return hashedNormal(triple32(triple32(index) ^ key));
}
`;

const CODE = `
${HASHED_NORMAL_WGSL}

fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.size) {
    let row = i / uniforms.count;
    let index = u32(i - row * uniforms.count) + bitcast<u32>(uniforms.offset);
    result[i] = hashedNormalAt(bitcast<u32>(i32(keys[row])), index);
  }
}
`;

const hashedNormals: KernelFunc = ({ backend, attrs }) => {
  const { keys, count, offset } = attrs as unknown as HashedNormalsAttrs;
  const gpu = backend as unknown as WebGpuBackendLike;
  const size = keys.length * count;
  return withHostKeys(gpu, keys, (keyTensor) =>
    shaped(
      runShader(
        gpu,
        {
          key: 'McevalHashedNormals',
          inputs: [{ name: 'keys', components: 1 }],
          uniforms: 'size : i32, count : i32, offset : i32,',
          workgroupSize: WORKGROUP,
          dispatch: elementwiseDispatch(size, WORKGROUP),
          outputSize: size,
          code: () => CODE,
        },
        [keyTensor],
        [size, count, offset | 0].map(intUniform),
      ),
      [keys.length, count],
    ),
  );
};

/** u32 noise keys (one per row of a draw) as an int32 tensor of the call (shader.ts's withHostInt32). */
export function withHostKeys<T>(backend: WebGpuBackendLike, keys: readonly number[], body: (keys: TensorInfo) => T): T {
  return withHostInt32(
    backend,
    [keys.length],
    Int32Array.from(keys, (key) => key | 0),
    body,
  );
}

export function webGpuHashedNormalsKernel(): KernelConfig {
  return { kernelName: HASHED_NORMALS, backendName: 'webgpu', kernelFunc: hashedNormals };
}
