/**
 * Running the WebAssembly bulk draws of mceval's generator (assembly/normal.ts, assembly/ziggurat.ts; `state` is the
 * generator's four u32 words, advanced in place past the draws), and its dropout masks and hashed normals
 * (assembly/random.ts).
 */
import { place, write, type KernelExports } from './wasm-kernels.js';

/** Places the state and arrays of `lengths` (the output first), runs, and reads the advanced state back. */
function withState(
  state: Uint32Array,
  lengths: number[],
  run: (exports: KernelExports, out: number, stateAt: number, scratch: number) => void,
) {
  const { exports, offsets } = place([4, ...lengths]);
  const [stateAt, outAt, scratch] = offsets as [number, number, number];
  write(exports, stateAt, new Int32Array(state.buffer, state.byteOffset, 4));
  run(exports, outAt, stateAt, scratch);
  state.set(new Uint32Array(exports.memory.buffer, stateAt, 4));
  return { exports, outAt };
}

/**
 * An inverted-dropout mask into `out` by the hash of engine/dropout-bits.ts: `value` where element i's bits under `key`
 * are below `threshold` (< 2³²), else 0.
 */
export function hashedKeepMaskInto(key: number, threshold: number, value: number, out: Float32Array): void {
  filledInto(out, (e, at) => e.hashedKeepMask(at, out.length, key | 0, threshold | 0, value));
}

/** Elements offset … offset + out.length − 1 of the standard-normal draw keyed `key` (engine/hashed-normals.ts). */
export function hashedNormalsInto(key: number, offset: number, out: Float32Array): void {
  filledInto(out, (e, at) => e.hashedNormals(at, out.length, key | 0, offset | 0));
}

/** Runs a kernel that writes out.length values at the offset it is given, then copies them into `out`. */
function filledInto(out: Float32Array, fill: (exports: KernelExports, at: number) => void): void {
  const { exports, offsets } = place([out.length]);
  const at = offsets[0]!;
  fill(exports, at);
  out.set(new Float32Array(exports.memory.buffer, at, out.length));
}

/**
 * mean + std·normal() for each element of `out`, from ⌈out.length/2⌉ Box–Muller pairs (the same values as normal()
 * calls); returns the second value of the last pair when out.length is odd, for normal() to serve next.
 */
export function normalsInto(state: Uint32Array, mean: number, std: number, out: Float32Array): number {
  let spare = 0;
  // One more slot than values: the draws are written there first, two per pair.
  const { exports, outAt } = withState(state, [out.length + 1], (e, at, stateAt) => {
    spare = e.normals(at, out.length, stateAt, mean, std);
  });
  out.set(new Float32Array(exports.memory.buffer, outAt, out.length));
  return spare;
}

/** Standard normals by the ziggurat method (assembly/ziggurat.ts) into `out`. */
export function zigguratNormalsInto(state: Uint32Array, out: Float32Array): void {
  const { exports, outAt } = withState(state, [out.length, 2 * out.length], (e, at, stateAt, scratch) =>
    e.zigguratNormals(at, out.length, stateAt, scratch),
  );
  out.set(new Float32Array(exports.memory.buffer, outAt, out.length));
}
