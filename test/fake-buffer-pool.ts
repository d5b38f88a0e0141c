/**
 * A fake of tfjs-webgpu's BufferManager for the tests of what mceval does to its pool (webgpu-pool.ts,
 * kept-bind-groups.ts): fake buffers acquired and released as tfjs does, by size and usage, freed onto the end of
 * their key's list and taken from its end.
 */
import type { BorrowingPool, BufferPool } from '../src/engine/webgpu-pool.js';

/** GPUBufferUsage.STORAGE and MAP_READ | COPY_DST (a read's staging buffer). */
export const [STORAGE, STAGING] = [0x0080, 0x0001 | 0x0008];

export interface FakeBuffer {
  readonly size: number;
  readonly usage: number;
  destroyed: boolean;
  destroy(): void;
}

/** tfjs-webgpu's BufferManager's acquire and release over fake buffers (the same keys and counts). */
export class FakePool implements BufferPool, BorrowingPool {
  readonly freeBuffers = new Map<string, FakeBuffer[]>();
  readonly usedBuffers = new Map<string, FakeBuffer[]>();
  numFreeBuffers = 0;
  numUsedBuffers = 0;
  numBytesUsed = 0;
  numBytesAllocated = 0;
  made = 0;

  acquireBuffer(size: number, usage: number): FakeBuffer {
    const key = `${size}_${usage}`;
    if (!this.freeBuffers.has(key)) this.freeBuffers.set(key, []);
    let buffer = this.freeBuffers.get(key)!.pop();
    if (buffer === undefined) {
      buffer = {
        size,
        usage,
        destroyed: false,
        destroy() {
          this.destroyed = true;
        },
      };
      this.made++;
      this.numBytesAllocated += size;
    } else this.numFreeBuffers--;
    if (!this.usedBuffers.has(key)) this.usedBuffers.set(key, []);
    this.usedBuffers.get(key)!.push(buffer);
    this.numUsedBuffers++;
    this.numBytesUsed += size;
    return buffer;
  }

  releaseBuffer(buffer: FakeBuffer): void {
    const key = `${buffer.size}_${buffer.usage}`;
    const used = this.usedBuffers.get(key)!;
    used.splice(used.indexOf(buffer), 1);
    this.numUsedBuffers--;
    this.numBytesUsed -= buffer.size;
    this.freeBuffers.get(key)!.push(buffer);
    this.numFreeBuffers++;
  }

  free(size: number): number {
    return this.freeBuffers.get(`${size}_${STORAGE}`)?.length ?? 0;
  }
}
