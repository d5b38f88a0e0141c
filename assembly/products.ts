/**
 * C = Pᵀ·Q for tall, narrow P [T, m] and Q [T, n] (row-major float32, C [m, n]): the weight gradients of a low-rank
 * update, dA = xᵀ·dDown and dB = downᵀ·dY, where T is every token of the batch and m or n is the rank. tfjs-wasm runs
 * these as matMul with a [rank, T] left operand, and XNNPACK then repacks the whole [T, n] right operand on every call
 * — as much work as the product itself (measured 5 GFLOP/s). Here each token row contributes a rank-one update
 * to a 4 × 8 tile of C held in registers; tokens go in blocks so that a block of P and Q stays in cache while every
 * tile of C passes over it.
 */
import { madd } from './simd';

/** Tokens per block: 64 rows of a 256-wide operand are 64 KiB. */
const BLOCK: i32 = 64;

/** Adds the block's contribution to C[i..i+rows, j..j+8] (rows ≤ 4; P rows past them repeat the last one). */
function tile8(p: usize, q: usize, c: usize, t0: i32, t1: i32, m: i32, n: i32, i: i32, rows: i32, j: i32): void {
  const pRow = (<usize>m) << 2;
  const qRow = (<usize>n) << 2;
  const last = rows - 1;
  const c0 = c + ((<usize>i * <usize>n + <usize>j) << 2);
  const c1 = c0 + ((<usize>min(1, last) * <usize>n) << 2);
  const c2 = c0 + ((<usize>min(2, last) * <usize>n) << 2);
  const c3 = c0 + ((<usize>min(3, last) * <usize>n) << 2);
  let a0 = v128.load(c0);
  let b0 = v128.load(c0, 16);
  let a1 = v128.load(c1);
  let b1 = v128.load(c1, 16);
  let a2 = v128.load(c2);
  let b2 = v128.load(c2, 16);
  let a3 = v128.load(c3);
  let b3 = v128.load(c3, 16);
  let pAt = p + ((<usize>t0 * <usize>m + <usize>i) << 2);
  let qAt = q + ((<usize>t0 * <usize>n + <usize>j) << 2);
  const o1 = (<usize>min(1, last)) << 2;
  const o2 = (<usize>min(2, last)) << 2;
  const o3 = (<usize>min(3, last)) << 2;
  for (let t = t0; t < t1; t++) {
    const low = v128.load(qAt);
    const high = v128.load(qAt, 16);
    const s0 = v128.load32_splat(pAt);
    const s1 = v128.load32_splat(pAt + o1);
    const s2 = v128.load32_splat(pAt + o2);
    const s3 = v128.load32_splat(pAt + o3);
    a0 = madd(s0, low, a0);
    b0 = madd(s0, high, b0);
    a1 = madd(s1, low, a1);
    b1 = madd(s1, high, b1);
    a2 = madd(s2, low, a2);
    b2 = madd(s2, high, b2);
    a3 = madd(s3, low, a3);
    b3 = madd(s3, high, b3);
    pAt += pRow;
    qAt += qRow;
  }
  // Rows repeated past `rows` alias the last real row and hold the same sums, so the order of stores is immaterial.
  v128.store(c3, a3);
  v128.store(c3, b3, 16);
  v128.store(c2, a2);
  v128.store(c2, b2, 16);
  v128.store(c1, a1);
  v128.store(c1, b1, 16);
  v128.store(c0, a0);
  v128.store(c0, b0, 16);
}

/** tile8 for one column of C, scalar (the columns past the last multiple of 8). */
function tile1(p: usize, q: usize, c: usize, t0: i32, t1: i32, m: i32, n: i32, i: i32, rows: i32, j: i32): void {
  for (let r = 0; r < rows; r++) {
    const at = c + ((<usize>(i + r) * <usize>n + <usize>j) << 2);
    let sum = load<f32>(at);
    for (let t = t0; t < t1; t++) {
      sum +=
        load<f32>(p + ((<usize>t * <usize>m + <usize>(i + r)) << 2)) *
        load<f32>(q + ((<usize>t * <usize>n + <usize>j) << 2));
    }
    store<f32>(at, sum);
  }
}

/** c [m, n] = pᵀ·q for p [T, m], q [T, n]; c is overwritten. */
export function transposedProduct(p: usize, q: usize, c: usize, T: i32, m: i32, n: i32): void {
  memory.fill(c, 0, (<usize>m * <usize>n) << 2);
  const wide = n & ~7;
  for (let t0 = 0; t0 < T; t0 += BLOCK) {
    const t1 = min(T, t0 + BLOCK);
    for (let i = 0; i < m; i += 4) {
      const rows = min(4, m - i);
      for (let j = 0; j < wide; j += 8) tile8(p, q, c, t0, t1, m, n, i, rows, j);
      for (let j = wide; j < n; j++) tile1(p, q, c, t0, t1, m, n, i, rows, j);
    }
  }
}
