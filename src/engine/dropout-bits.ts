/**
 * A dropout mask from counter-based bits (counter-hash.ts): element i of the mask drawn with key k is kept when its
 * bits triple32(triple32(i) ^ k) are below ⌈keep·2³²⌉ — the same mask on every backend, made on the device on webgpu.
 */
import { counterBits } from './counter-hash.js';

/** One drawn mask: element i is kept, as `scale` = 1/keep, where counterBits(key, i) < threshold (both u32). */
export interface HashedDropout {
  readonly key: number;
  readonly threshold: number;
  readonly scale: number;
}

/** ⌈keep·2³²⌉: an element is kept when its bits are below it (2³² when every element is kept). */
export function keepThreshold(keep: number): number {
  return Math.min(Math.ceil(keep * 4294967296), 4294967296);
}

/** The mask in JavaScript, one element at a time: the reference for the WebAssembly and WGSL versions. */
export function keepMaskReference(key: number, threshold: number, value: number, size: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => (counterBits(key, i) < threshold ? value : 0));
}
