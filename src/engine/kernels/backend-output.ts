/**
 * Making a kernel's output from JavaScript values on the cpu and wasm backends, whose APIs for it differ; and an
 * output that is an input's own buffer, on any backend.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../tf.js';

interface DataBackend {
  readSync(dataId: object): unknown;
  /** wasm: a view of the tensor in the heap (no copy). */
  typedArrayFromHeap?(info: TensorInfo): Float32Array | Int32Array;
  makeTensorInfo?(shape: number[], dtype: string, values: Float32Array): TensorInfo;
  makeOutput?(shape: number[], dtype: string, memoryOffset?: number, values?: Float32Array): TensorInfo;
}

/**
 * The values of a kernel input, without a copy: the backend's own array on cpu, a view of the heap on wasm. Never
 * write to it, and read it before making any output: an output can grow the wasm heap, which detaches the view.
 */
export function inputValues<T extends Float32Array | Int32Array>(backend: unknown, input: TensorInfo): T {
  const data = backend as DataBackend;
  return (data.typedArrayFromHeap?.(input) ?? data.readSync(input.dataId)) as T;
}

export function floatOutput(backend: unknown, shape: number[], values: Float32Array): TensorInfo {
  const data = backend as unknown as DataBackend;
  // cpu has makeTensorInfo(shape, dtype, values); wasm lacks it and has makeOutput(shape, dtype, offset, values).
  // (cpu's own makeOutput takes values first, so the order of these checks matters.)
  if (data.makeTensorInfo) return data.makeTensorInfo(shape, 'float32', values);
  if (data.makeOutput) return data.makeOutput(shape, 'float32', undefined, values);
  throw new Error('this backend can neither make tensor infos nor outputs');
}

/**
 * A float32 output of `shape` whose values `fill` writes (every element): on wasm straight into the heap, elsewhere
 * into a new array. A fresh JavaScript array of a few MB costs ~15 ns per element in first-touch page faults on these
 * machines (more than most of the work that fills it), while the wasm heap's pages are already mapped.
 */
export function filledOutput(backend: unknown, shape: number[], fill: (values: Float32Array) => void): TensorInfo {
  const data = backend as unknown as DataBackend;
  if (!data.makeTensorInfo && data.makeOutput && data.typedArrayFromHeap) {
    const info = data.makeOutput(shape, 'float32');
    fill(data.typedArrayFromHeap(info) as Float32Array);
    return info;
  }
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  fill(values);
  return floatOutput(backend, shape, values);
}

/** A float32 output holding a copy of `values`, a view of memory that is about to change. */
export function copiedFloatOutput(backend: unknown, shape: number[], values: Float32Array): TensorInfo {
  return filledOutput(backend, shape, (out) => out.set(values));
}

/** filledOutput as a tensor of the current backend, outside any kernel. */
export function filledTensor(shape: number[], fill: (values: Float32Array) => void): Tensor {
  return tf.engine().makeTensorFromTensorInfo(filledOutput(tf.backend(), shape, fill));
}

interface ReferenceCounted {
  incRef(dataId: object): void;
}

/**
 * `input`'s own buffer as a kernel output (shaped `shape`), counted as one more reference to it, as tfjs's Reshape
 * returns its input's: disposing the output leaves the input's data alone.
 */
export function sharedOutput(backend: unknown, input: TensorInfo, shape: readonly number[] = input.shape): TensorInfo {
  (backend as ReferenceCounted).incRef(input.dataId);
  return { dataId: input.dataId, shape: [...shape], dtype: input.dtype };
}
