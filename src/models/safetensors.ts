/**
 * A safetensors reader: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
 * byte range, then the data. Tensors are read one at a time with positioned reads, so a checkpoint is never held in
 * memory twice. F32, F16 and BF16 are converted to float32 (mceval computes in float32).
 * Every problem is one line naming the file and, where it applies, the tensor.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { Variable } from '../engine/tf.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';
const BYTES_PER_ELEMENT: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F16: 2, BF16: 2 };

export interface TensorEntry {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Absolute byte offsets in the file. */
  readonly begin: number;
  readonly end: number;
}

export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly tensors: ReadonlyMap<string, TensorEntry>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static open(path: string): SafetensorsFile {
    if (!existsSync(path)) throw new UserError(`Checkpoint file not found: ${path}.`);
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new UserError(`${path} is not a safetensors file: ${size} bytes, too short for a header.`);
      const lengthBytes = Buffer.alloc(8);
      readSync(fd, lengthBytes, 0, 8, 0);
      const headerLength = Number(lengthBytes.readBigUInt64LE(0));
      if (headerLength > size - 8) {
        throw new UserError(
          `${path} is truncated or not a safetensors file: its header claims ${headerLength} bytes, the file has ${size}.`,
        );
      }
      const headerBytes = Buffer.alloc(headerLength);
      readSync(fd, headerBytes, 0, headerLength, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(headerBytes.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new UserError(`${path} has an unreadable safetensors header (not JSON).`);
      }
      const dataStart = 8 + headerLength;
      const tensors = new Map<string, TensorEntry>();
      let metadata: Record<string, string> = {};
      for (const [name, value] of Object.entries(header)) {
        if (name === '__metadata__') {
          metadata = (value ?? {}) as Record<string, string>;
          continue;
        }
        const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
        if (!(typeof entry.dtype === 'string' && entry.dtype in BYTES_PER_ELEMENT)) {
          throw new UserError(
            `${path}: tensor "${name}" has dtype ${String(entry.dtype)}; mceval reads F32, F16 and BF16.`,
          );
        }
        const dtype = entry.dtype as SafetensorsDtype;
        const shape = entry.shape as number[];
        const [from, to] = entry.data_offsets as [number, number];
        const expected = shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[dtype];
        if (to - from !== expected) {
          throw new UserError(
            `${path}: tensor "${name}" has ${to - from} bytes, its shape [${shape}] needs ${expected}.`,
          );
        }
        if (dataStart + to > size) {
          throw new UserError(
            `${path} is truncated: tensor "${name}" ends at byte ${dataStart + to}, the file has ${size}.`,
          );
        }
        tensors.set(name, { dtype, shape, begin: dataStart + from, end: dataStart + to });
      }
      return new SafetensorsFile(path, fd, tensors, metadata);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** The tensor's values as float32, row-major. */
  read(name: string): { shape: readonly number[]; values: Float32Array } {
    const entry = this.tensors.get(name);
    if (entry === undefined) throw new UserError(`${this.path}: no tensor "${name}".`);
    const bytes = Buffer.alloc(entry.end - entry.begin);
    readSync(this.fd, bytes, 0, bytes.length, entry.begin);
    return { shape: entry.shape, values: toFloat32(bytes, entry.dtype) };
  }

  close(): void {
    closeSync(this.fd);
  }
}

export function toFloat32(bytes: Buffer, dtype: SafetensorsDtype): Float32Array {
  const count = bytes.length / BYTES_PER_ELEMENT[dtype];
  const out = new Float32Array(count);
  if (dtype === 'F32') {
    // Copy into an aligned buffer (safetensors and x86/ARM are both little-endian).
    new Uint8Array(out.buffer).set(bytes);
  } else if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const view = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) view[i] = bytes.readUInt16LE(i * 2) << 16;
  } else {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(bytes.readUInt16LE(i * 2));
  }
  return out;
}

/** IEEE 754 binary16 → number (subnormals, infinities and NaN included). */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * Math.pow(2, -14) * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : Number.NaN;
  return sign * Math.pow(2, exponent - 15) * (1 + fraction / 1024);
}

/**
 * Writes a float32 safetensors file (for tests and adapters). Keys are sorted, data laid out in key order, the header
 * padded with spaces to a multiple of 8 bytes, as the reference implementation does.
 */
export function encodeSafetensors(tensors: Record<string, { shape: readonly number[]; values: Float32Array }>): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const name of names) {
    const size = tensors[name]!.values.length * 4;
    header[name] = { dtype: 'F32', shape: tensors[name]!.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let position = 8 + headerBytes.length;
  for (const name of names) {
    const { values } = tensors[name]!;
    Buffer.from(values.buffer, values.byteOffset, values.byteLength).copy(out, position);
    position += values.byteLength;
  }
  return out;
}

export type TensorRecord = Record<string, { shape: number[]; values: Float32Array }>;

/** A variable's values and shape, for a state dict. */
export function tensorEntry(tensor: { shape: readonly number[]; dataSync(): ArrayLike<number> }): {
  shape: number[];
  values: Float32Array;
} {
  return { shape: [...tensor.shape], values: Float32Array.from(tensor.dataSync()) };
}

/**
 * A [in, out] variable as PEFT's [out, in] tensor (mceval keeps adapter matrices transposed), transposed on the host
 * from the variable's own values — which backends without synchronous reads (WebGPU) have cached once read.
 */
export function transposedEntry(variable: Variable): { shape: number[]; values: Float32Array } {
  const [rows, columns] = variable.shape as [number, number];
  const values = variable.dataSync();
  const transposed = new Float32Array(values.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < columns; j++) transposed[j * rows + i] = values[i * columns + j]!;
  return { shape: [columns, rows], values: transposed };
}
