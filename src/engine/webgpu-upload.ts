/**
 * Host values to the GPU through the queue. tfjs-webgpu uploads a tensor made from host values (a scalar operand, a
 * batch's token ids, a mask) by creating a mapped staging buffer for it — a new buffer every time, never reused — and
 * recording a copy; a training step makes dozens of such tensors, and creating a buffer is among the costliest calls
 * a step makes on the host. `queue.writeBuffer` hands the bytes to Dawn, which stages them in memory it keeps, into a
 * buffer from tfjs's pool. Ordering is the queue's: the write lands before any command submitted after it, and a
 * pooled buffer is never one a recorded, unsubmitted command still uses (tfjs releases those after submitting, which
 * its own uniform buffers, written the same way, rely on).
 */
import { tf } from './tf.js';
import { noteUpload } from './replay/step-values.js';

interface TensorData {
  values: tf.BackendValues | null;
  resource: unknown;
  readonly dtype: string;
  readonly shape: number[];
}

export interface UploadingBackend {
  readonly tensorMap: { get(dataId: object): TensorData };
  readonly bufferManager: { acquireBuffer(size: number, usage: number): object };
  readonly queue: {
    writeBuffer(buffer: object, offset: number, data: ArrayBuffer, dataOffset: number, size: number): void;
  };
}

declare const GPUBufferUsage: { STORAGE: number; COPY_SRC: number; COPY_DST: number };

/**
 * Uploads the tensor's host values if it has some and no buffer yet; false when tfjs's own path should (other types).
 */
export function uploadThroughQueue(backend: UploadingBackend, dataId: object): boolean {
  const data = backend.tensorMap.get(dataId);
  if (data.resource != null || data.values == null) return false;
  const count = data.shape.reduce((a, b) => a * b, 1);
  if (count === 0 || !['float32', 'int32', 'bool'].includes(data.dtype)) return false;
  // The element types tfjs-webgpu's buffers hold: f32, and i32 for int32 and bool.
  const values =
    data.dtype === 'float32'
      ? data.values instanceof Float32Array
        ? data.values
        : Float32Array.from(data.values as ArrayLike<number>)
      : data.values instanceof Int32Array
        ? data.values
        : Int32Array.from(data.values as ArrayLike<number>);
  const size = 4 * count;
  const buffer = backend.bufferManager.acquireBuffer(
    size,
    GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  );
  // A step captured for replay notes the write where these values are its inputs or made from them (step-values.ts).
  noteUpload(data.values, data.dtype);
  backend.queue.writeBuffer(buffer, 0, values.buffer as ArrayBuffer, values.byteOffset, size);
  // As tfjs does: once on the GPU, the values are not kept on the host.
  data.values = null;
  data.resource = buffer;
  return true;
}
