/**
 * The WebAssembly SIMD kernels (assembly/index.ts, compiled by `npm run build` next to this file) and the memory they
 * work in: which build to load, and placing operands in that memory. Nothing here knows what a kernel computes.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

/** The part of the WebAssembly global this module uses (lib.dom, which declares it, is not in this project's libs). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  validate(bytes: Uint8Array): boolean;
};

/** The kernels' exports: every argument is an i32 byte offset into `memory`, a count or a float scalar. */
export interface KernelExports {
  readonly memory: WasmMemory;
  forward(...args: number[]): void;
  backward(...args: number[]): void;
  transposedProduct(...args: number[]): void;
  hashedKeepMask(...args: number[]): void;
  hashedNormals(...args: number[]): void;
  normals(...args: number[]): number;
  zigguratNormals(...args: number[]): void;
  libmLog(x: number): number;
  libmCosine(x: number): number;
  libmSine(x: number): number;
}

const PAGE = 65536;
/** Past the module's own static data (the exponential's constant table, a few dozen bytes at 1 KiB). */
const FIRST_FREE = PAGE;

/** Which build of the kernels runs: with relaxed SIMD (fused multiply-add where the CPU has it) or plain SIMD. */
export type KernelBuild = 'relaxed-simd' | 'simd';

let loaded: { exports: KernelExports; build: KernelBuild } | undefined;

/**
 * The relaxed-SIMD build when this engine accepts it, else the plain one. Node 20's V8 has relaxed SIMD behind a flag
 * (on by default in later V8, Node 22's); the flag only adds instructions, so it is turned on for this process when
 * needed. MCEVAL_RELAXED_SIMD=0 picks the plain build (results then match across machines with and without FMA).
 */
function chooseBuild(): { bytes: Uint8Array; build: KernelBuild } {
  const plain = () => ({ bytes: readFileSync(new URL('./kernels.wasm', import.meta.url)), build: 'simd' as const });
  if (process.env.MCEVAL_RELAXED_SIMD === '0') return plain();
  const relaxed = readFileSync(new URL('./kernels-relaxed.wasm', import.meta.url));
  if (!WebAssembly.validate(relaxed)) setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(relaxed) ? { bytes: relaxed, build: 'relaxed-simd' } : plain();
}

function kernels(): KernelExports {
  if (loaded === undefined) {
    const { bytes, build } = chooseBuild();
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as KernelExports;
    loaded = { exports, build };
  }
  return loaded.exports;
}

/** The kernel build this process runs (loading it if needed): for `mceval doctor` and benchmark provenance. */
export function kernelBuild(): KernelBuild {
  kernels();
  return loaded!.build;
}

/** Places arrays one after another (16-byte aligned) in the kernels' memory, growing it when needed. */
export function place(lengths: number[]): { exports: KernelExports; offsets: number[] } {
  const exports = kernels();
  const offsets: number[] = [];
  let end = FIRST_FREE;
  for (const length of lengths) {
    offsets.push(end);
    end += Math.ceil((length * 4) / 16) * 16;
  }
  const missing = end - exports.memory.buffer.byteLength;
  if (missing > 0) exports.memory.grow(Math.ceil(missing / PAGE));
  return { exports, offsets };
}

export function write(exports: KernelExports, offset: number, values: Float32Array | Int32Array): void {
  const view = values instanceof Int32Array ? Int32Array : Float32Array;
  new view(exports.memory.buffer, offset, values.length).set(values);
}

/** A view of the kernels' memory; valid until the next kernel call (which may grow, and so detach, that memory). */
export function view(exports: KernelExports, offset: number, length: number): Float32Array {
  return new Float32Array(exports.memory.buffer, offset, length);
}
