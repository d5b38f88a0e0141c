/**
 * Joins and cuts of whole blocks of tensors by the GPU's buffer copies rather than by shaders. A shader binds at most
 * (storage buffers − 1) inputs or outputs, so tfjs-webgpu's Concat joins 15 inputs a dispatch and then joins the joins,
 * and mceval's Unpack writes 15 outputs a dispatch: a global gradient norm over stories260K's 70 LoRA gradients was six
 * dispatches, a MonteCLoRA step's stacked factors and their gradients a dozen more. Where each input is one contiguous
 * block of the output (every axis before the joined one has size 1: tf.stack along the first axis, a concatenation of
 * flattened tensors) the join is one copy per input into a new buffer, recorded between compute passes: no pipeline,
 * bind group, uniforms or tfjs program per dispatch, and the GPU copies at memory speed.
 *
 * MCEVAL_WEBGPU_JOINS: `copies` (the default) or `shaders` (tfjs's Concat and mceval's Unpack shader), so that a GPU
 * run can time both. Read at each call, and as the engine starts (so that a bad value stops a run first).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { environmentChoice } from '../../environment-choice.js';
import { tf } from '../../tf.js';
import type { WebGpuBackendLike } from './shader.js';

const JOINS_SETTING = 'MCEVAL_WEBGPU_JOINS';

export function joinsSetting(): 'copies' | 'shaders' {
  return environmentChoice(JOINS_SETTING, ['copies', 'shaders']);
}

interface CopyableBuffer {
  readonly size: number;
  readonly usage: number;
}

/** The parts of tfjs-webgpu's backend a copy is recorded through (private in its typings). */
interface CopyingBackend {
  readonly tensorMap: { get(dataId: object): { resource?: unknown } | undefined };
  uploadToGPU(dataId: object): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  readonly commandEncoder: {
    copyBufferToBuffer(source: object, sourceOffset: number, target: object, targetOffset: number, size: number): void;
  };
  readonly commandQueueOwnedIds: Set<object>;
}

interface HandingOff {
  shouldExecuteOnCPU(inputs: readonly TensorInfo[]): boolean;
}

declare const GPUBufferUsage: { COPY_SRC: number; COPY_DST: number };

/** The element types whose tensors a copy moves: 4 bytes a value in tfjs-webgpu's buffers. */
const COPIED_TYPES = new Set(['float32', 'int32']);
const BYTES_PER_VALUE = 4;

const valuesOf = (shape: readonly number[]) => tf.util.sizeFromShape([...shape]);

/** One block: `bytes` bytes of `from` at `fromByte` into `to` at `toByte`. */
interface Block {
  readonly from: TensorInfo;
  readonly fromByte: number;
  readonly to: TensorInfo;
  readonly toByte: number;
  readonly bytes: number;
}

/** The tensor's GPU buffer, uploaded first if its values are still on the host; undefined if it cannot be copied. */
function bufferOf(gpu: CopyingBackend, info: TensorInfo, usage: number): CopyableBuffer | undefined {
  gpu.uploadToGPU(info.dataId);
  const resource = gpu.tensorMap.get(info.dataId)?.resource as Partial<CopyableBuffer> | undefined;
  if (typeof resource?.usage !== 'number' || typeof resource.size !== 'number') return undefined;
  return (resource.usage & usage) === usage ? (resource as CopyableBuffer) : undefined;
}

/**
 * Records the blocks' copies after the compute pass under way; false, having recorded none, where a buffer does not
 * allow them. tfjs keeps every tensor a recorded command uses until the commands are submitted (as it does for a
 * dispatch's), so that no pooled buffer is written from the host while a copy of it waits.
 */
function recordCopies(backend: WebGpuBackendLike, blocks: readonly Block[]): boolean {
  const gpu = backend as unknown as CopyingBackend;
  // A join's result and a cut's input recur in every block: each tensor's buffer is looked up once.
  const found = new Map<object, CopyableBuffer | undefined>();
  const buffer = (info: TensorInfo, usage: number) => {
    if (!found.has(info.dataId)) found.set(info.dataId, bufferOf(gpu, info, usage));
    return found.get(info.dataId);
  };
  const buffers = blocks.map((block) => ({
    from: buffer(block.from, GPUBufferUsage.COPY_SRC),
    to: buffer(block.to, GPUBufferUsage.COPY_DST),
  }));
  if (buffers.some(({ from, to }) => from === undefined || to === undefined)) return false;
  gpu.ensureCommandEncoderReady();
  gpu.endComputePassEncoder();
  blocks.forEach((block, b) => {
    const { from, to } = buffers[b]!;
    gpu.commandEncoder.copyBufferToBuffer(from!, block.fromByte, to!, block.toByte, block.bytes);
    gpu.commandQueueOwnedIds.add(block.from.dataId);
    gpu.commandQueueOwnedIds.add(block.to.dataId);
  });
  return true;
}

/**
 * `inputs` joined along `axis` (already non-negative) into one tensor of `outShape` by copies, where they can be: two
 * or more non-empty inputs of one copied type, each a contiguous block of the result (every axis of the result
 * before `axis` has size 1), not all of them small values on the host (which tfjs joins there; `hostValuesToo`
 * uploads and copies those as well). Undefined otherwise, or under MCEVAL_WEBGPU_JOINS=shaders: the caller's kernel
 * joins them.
 */
export function joinedByCopies(
  backend: WebGpuBackendLike,
  inputs: readonly TensorInfo[],
  axis: number,
  outShape: readonly number[],
  { hostValuesToo = false } = {},
): TensorInfo | undefined {
  const dtype = inputs[0]?.dtype;
  if (joinsSetting() !== 'copies' || dtype === undefined || !COPIED_TYPES.has(dtype)) return undefined;
  if (inputs.some((input) => input.dtype !== dtype) || valuesOf(outShape.slice(0, axis)) !== 1) return undefined;
  const filled = inputs.filter((input) => valuesOf(input.shape) > 0);
  // tfjs joins small tensors whose values are all on the host there, with no upload.
  if (filled.length < 2 || (!hostValuesToo && (backend as unknown as HandingOff).shouldExecuteOnCPU(filled)))
    return undefined;
  const out = backend.makeTensorInfo([...outShape], dtype as 'float32' | 'int32');
  let toByte = 0;
  const blocks = filled.map((from) => {
    const bytes = valuesOf(from.shape) * BYTES_PER_VALUE;
    const block = { from, fromByte: 0, to: out, toByte, bytes };
    toByte += bytes;
    return block;
  });
  if (recordCopies(backend, blocks)) return out;
  backend.disposeData(out.dataId);
  return undefined;
}

/**
 * `value` cut along `axis` (non-negative) into its `value.shape[axis]` parts, each of the others' shape, by copies,
 * where they can be: a copied type, and each part a contiguous block (every axis before `axis` has size 1; at least
 * one value a part). Undefined otherwise, or under MCEVAL_WEBGPU_JOINS=shaders.
 */
export function cutByCopies(backend: WebGpuBackendLike, value: TensorInfo, axis: number): TensorInfo[] | undefined {
  const partShape = value.shape.filter((_, d) => d !== axis);
  if (valuesOf(value.shape.slice(0, axis)) !== 1) return undefined;
  return partsByCopies(
    backend,
    value,
    Array.from({ length: value.shape[axis]! }, () => partShape),
  );
}

/**
 * `value`'s first values cut, in order, into tensors of `shapes` by copies, where they can be: a copied type, and at
 * least one value a part. Undefined otherwise, or under MCEVAL_WEBGPU_JOINS=shaders.
 */
export function partsByCopies(
  backend: WebGpuBackendLike,
  value: TensorInfo,
  shapes: readonly (readonly number[])[],
): TensorInfo[] | undefined {
  if (joinsSetting() !== 'copies' || !COPIED_TYPES.has(value.dtype)) return undefined;
  if (shapes.some((shape) => valuesOf(shape) === 0)) return undefined;
  const parts = shapes.map((shape) => backend.makeTensorInfo([...shape], value.dtype as 'float32' | 'int32'));
  let fromByte = 0;
  const blocks = parts.map((to, k) => {
    const bytes = valuesOf(shapes[k]!) * BYTES_PER_VALUE;
    const block = { from: value, fromByte, to, toByte: 0, bytes };
    fromByte += bytes;
    return block;
  });
  if (recordCopies(backend, blocks)) return parts;
  parts.forEach((part) => backend.disposeData(part.dataId));
  return undefined;
}
