/**
 * The one seeded random number generator of mceval. Every random draw (initialisation, shuffling, dropout, noise)
 * comes from an Rng derived from the run's seed, and is generated on the host (here, and in bulk by the WebAssembly
 * loops of assembly/normal.ts and ziggurat.ts) rather than by a backend's kernel, so the same seed gives the same
 * numbers on every backend. Dropout masks and MonteCLoRA's Gaussian noise take one draw each, the key of a
 * counter-based hash that every backend computes alike (engine/counter-hash.ts).
 *
 * Generator: xoshiro128** (Blackman & Vigna), seeded through splitmix32. Streams for independent purposes are
 * derived with `fork(label)`, so adding a draw in one place does not shift the numbers drawn in another.
 */
import { normalsInto, zigguratNormalsInto } from './kernels/random-wasm.js';

/** Values generated at a time by normalArray (an even number: normal pairs never straddle two chunks). */
const CHUNK = 4096;

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | undefined;

  constructor(readonly seed: number) {
    let state = seed >>> 0;
    const next = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** An independent generator for one purpose, determined by this generator's seed and the label. */
  fork(label: string): Rng {
    return new Rng(hashString(label, this.seed));
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform on [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const value = this.spareNormal;
      this.spareNormal = undefined;
      return value;
    }
    // 1 - uniform() lies in (0, 1], so the logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.uniform()));
    const angle = 2 * Math.PI * this.uniform();
    this.spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** The generator's state as four u32 words, for the bulk draws of the WebAssembly kernels. */
  private bulk(run: (state: Uint32Array) => void): void {
    const state = Uint32Array.of(this.s0, this.s1, this.s2, this.s3);
    run(state);
    [this.s0, this.s1, this.s2, this.s3] = state as unknown as [number, number, number, number];
  }

  /** An integer uniform on [0, n). */
  integer(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  uniformArray(size: number, low = 0, high = 1): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = low + (high - low) * this.uniform();
    return out;
  }

  /** `size` values of mean + std·normal(): the same numbers as that many normal() calls, spare value included. */
  normalArray(size: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(size);
    let at = 0;
    if (size > 0 && this.spareNormal !== undefined) {
      out[at++] = mean + std * this.spareNormal;
      this.spareNormal = undefined;
    }
    // Box–Muller on pairs of uniform() draws, with the logarithm, sine and cosine of Math (fdlibm) written out in
    // WebAssembly (assembly/normal.ts): ~40 ns a value in this loop's JavaScript form, most of it the three calls.
    for (; at < size; at += CHUNK) {
      const part = out.subarray(at, Math.min(at + CHUNK, size));
      this.bulk((state) => {
        const spare = normalsInto(state, mean, std, part);
        if (part.length % 2 === 1) this.spareNormal = spare;
      });
    }
    return out;
  }

  /**
   * `size` standard normals by the ziggurat method (assembly/ziggurat.ts): a stream of its own, not normal()'s, 4–5 ns
   * a value against ~20 for Box–Muller in WebAssembly — for noise drawn in bulk every step (MonteCLoRA's).
   */
  zigguratNormals(size: number): Float32Array {
    // One call for the whole array (no chunks): the few values that need more than two draws take them after the
    // array's own, so the values depend on how the array is split.
    const out = new Float32Array(size);
    this.bulk((state) => zigguratNormalsInto(state, out));
    return out;
  }

  /** A permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.integer(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a over the label, mixed with a seed: a stable 32-bit seed for a derived stream. */
export function hashString(text: string, seed = 0): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}
