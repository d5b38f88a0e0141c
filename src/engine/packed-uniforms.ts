/**
 * A dispatch's uniforms packed as tfjs-webgpu's `makeUniforms` packs them — its NaN and Infinity, each buffer's shape
 * and strides, the program's size, then the kernel's own values — into the bytes its shader's uniform struct reads,
 * each field at WGSL's alignment (4 bytes for a scalar, 8 for a vec2, 16 for vec3 to vec4, and the arrays of 5 and 6
 * that tfjs declares for long shapes, after which the next field starts at 16). tfjs makes a typed array per field to
 * write it (a stories260K LoRA step packs 107 dispatches of 33 fields on average): views over the whole buffer, one
 * per type, write the same bytes in about half its time (0.28–0.44 ms a step against 0.76–1.03 on this machine).
 *
 * MCEVAL_WEBGPU_UNIFORMS: `packed` (unset) or `tfjs` (tfjs's own packing); read as the engine starts and at each read,
 * so that a benchmark can time both in one process.
 */
import { readTimeChoice } from './read-time-choice.js';

export const UNIFORMS_SETTING = 'MCEVAL_WEBGPU_UNIFORMS';

const uniforms = readTimeChoice(UNIFORMS_SETTING, ['packed', 'tfjs']);

export const uniformsSetting = uniforms.read;

/** Reads the setting for the dispatches from now on. */
export const applyUniformsSetting = uniforms.apply;

/** Whether the webgpu backend packs uniforms here now (else tfjs does). */
export const packingUniforms = (): boolean => uniforms.current() === 'packed';

/** One field: its element type and values (none: tfjs writes a 1 there). */
export interface UniformField {
  readonly type: string;
  readonly data: ArrayLike<number>;
}

/** WGSL's alignment, in bytes, of a field of `length` values after one of `previous` values. */
function alignmentOf(length: number, previous: number): number {
  if (previous === 5 || previous === 6) return 16;
  return length === 1 ? 4 : length === 2 ? 8 : 16;
}

/** The fields' bytes, laid out and typed as tfjs-webgpu lays them out. */
export function packUniforms(fields: readonly UniformField[]): ArrayBuffer {
  const at: number[] = new Array<number>(fields.length);
  let offset = 0;
  let previous = 0;
  let widest = 1;
  for (let i = 0; i < fields.length; i++) {
    const length = Math.max(1, fields[i]!.data.length);
    const alignment = alignmentOf(length, previous);
    widest = Math.max(widest, alignment);
    offset = Math.ceil(offset / alignment) * alignment;
    at[i] = offset / 4;
    offset += length * 4;
    previous = length;
  }
  const bytes = new ArrayBuffer(Math.ceil(offset / widest) * widest);
  const ints = new Int32Array(bytes);
  let floats: Float32Array | undefined;
  let unsigned: Uint32Array | undefined;
  for (let i = 0; i < fields.length; i++) {
    const { type, data } = fields[i]!;
    const view =
      type === 'int32'
        ? ints
        : type === 'uint32'
          ? (unsigned ??= new Uint32Array(bytes))
          : (floats ??= new Float32Array(bytes));
    const start = at[i]!;
    if (data.length === 0) view[start] = 1;
    for (let k = 0; k < data.length; k++) view[start + k] = data[k]!;
  }
  return bytes;
}
