/**
 * Uniform writes left out where the buffer holds those bytes already. tfjs-webgpu writes each dispatch's uniforms
 * (shapes, strides, a kernel's sizes and scales) into a pooled uniform buffer through the queue, a host call per
 * dispatch (3 µs on the H200's host). With the pool handing out buffers in a fixed order (kept-bind-groups.ts), a
 * step of one shape writes the same bytes into the same buffer as the step before, for every dispatch but those whose
 * values change (a dropout's key, AdamW's step). Only the queue writes uniform buffers, and its writes run in the order
 * they are made, so a buffer whose last write carried these bytes holds them when any later command reads it: the
 * write is left out. Kept and left out only while bind groups are kept (MCEVAL_WEBGPU_BIND_GROUPS).
 */
import { keepingBindGroups } from './kept-bind-groups.js';

/** GPUBufferUsage.UNIFORM. */
export const UNIFORM = 0x0040;

export interface WritingQueue {
  writeBuffer(
    buffer: { readonly usage: number },
    offset: number,
    data: ArrayBuffer | ArrayBufferView,
    dataOffset?: number,
    size?: number,
  ): void;
}

/** Makes `queue` leave out a whole write into a uniform buffer of the bytes it last wrote there. */
export function skipRepeatedUniformWrites(queue: WritingQueue): void {
  const write = queue.writeBuffer.bind(queue);
  const last = new WeakMap<object, Uint8Array>();
  queue.writeBuffer = (...args) => {
    const [buffer, offset, data, dataOffset = 0, size] = args;
    if ((buffer.usage & UNIFORM) === 0) return write(...args);
    // What tfjs writes: an ArrayBuffer's bytes from the buffer's start. Any other write leaves its bytes unknown.
    if (offset !== 0 || !(data instanceof ArrayBuffer)) {
      last.delete(buffer);
      return write(...args);
    }
    const bytes = new Uint8Array(data, dataOffset, size ?? data.byteLength - dataOffset);
    const before = last.get(buffer);
    if (keepingBindGroups() && before !== undefined && sameBytes(before, bytes)) return;
    last.set(buffer, bytes.slice());
    write(...args);
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
