/**
 * Causal self-attention, forward and backward, in WebAssembly SIMD (AssemblyScript). Compiled by `npm run build` into
 * the kernels module (assembly/index.ts) and driven by src/engine/kernels/attention-wasm.ts, which owns the memory:
 * every pointer below is a byte offset into this module's memory, placed by the caller. Nothing here allocates.
 *
 * Layout (row-major float32), as the projections produce and consume it, so no head transposes are needed: q and out
 * [B, T, H·dh], k, v [B, S, Hkv·dh], mask int32 [B, S]; lse [N, R] with N = B·Hkv entries of R = G·T rows (G = H / Hkv
 * query heads share a key-value head). Row r = g·T + i of entry n = b·Hkv + kvh is query position i of batch row b in
 * query head kvh·G + g. Query i may attend to key j when j ≤ offset + i and mask[j] is 1; a row with no such key attends to every
 * key uniformly (as an additive −1e9 bias does in float32). Scores are scaled by `scale`. At most four rows of scores exist
 * at a time, so memory is linear in the sequence length; the backward pass recomputes each row's probabilities from
 * the saved log-sum-exp, FlashAttention's way.
 *
 * Dropout of the probabilities (an encoder's attention_probs_dropout_prob), FlashAttention's way too: with dropScale
 * 1/keep > 0, a probability is kept (times 1/keep) where element ((b·H + h)·T + t)·S + j of a [B, H, T, S] mask by the
 * counter-based hash (hash.ts, keyed dropKey, kept below dropThreshold) says so — the mask the composite path
 * multiplies its probabilities by, made here a row at a time where it is used; the log-sum-exp is the undropped one.
 * Backward, with M the row's mask: dV += (P⊙M)ᵀ·dO and dS = P ⊙ (M ⊙ dO·Vᵀ − Δ), Δ = dO·O as without dropout.
 *
 * Speed: each entry's keys and values are first transposed to [dh, S8] (S8 = S rounded up to 8, padded with zeros),
 * so that every inner loop runs over keys four or eight at a time with no horizontal sums: scores are
 * Σ_d q[d]·kᵀ[d, j..j+7], the output Σ_j p[j]·vᵀ[d, j..j+3] per d, and the key/value gradients accumulate transposed,
 * then are transposed back. Products use `madd`, one fused instruction where relaxed SIMD is available (see
 * src/engine/kernels/wasm-kernels.ts, which loads that build when the engine accepts it).
 */
import { madd, sum4 } from './simd';
import { keepMask4, keepMaskFrom } from './hash';

/** 1.5·2²³: adding it rounds a float of magnitude < 2²² to an integer, held in the low bits of the sum. */
const SHIFTER: f32 = 12582912.0;
const LOG2E: f32 = 1.4426950408889634;

/**
 * The constants of `exponentiate`'s loop, kept in memory and loaded once per call: Binaryen folds constants held in
 * locals back into the loop as v128.const, which V8 rebuilds from immediates (several instructions each) on every
 * iteration, where a vector loaded before the loop stays in a register.
 *
 * e^x for x ≤ 0 (a score minus its row's maximum or log-sum-exp) is 2^n · 2^f with t = x·log₂e, n = round(t) and
 * f = t − n ∈ [−½, ½]: 2^f by a degree-6 polynomial (fitted for relative error; 1e-7 in float32 on [−½, ½]), 2^n by
 * writing n + 127 into the exponent bits. n is rounded by adding and subtracting 1.5·2²³ (the rounded integer is then
 * the sum's low mantissa bits), as x86 has no single instructions for f32x4.nearest and a saturating conversion.
 * Inputs below −80 are clamped there, which keeps every result a normal float (the result is then tiny, not 0:
 * −∞ scores are zeroed by their own mask).
 */
const EXP_TABLE = memory.data<f32>([
  -80.0,
  LOG2E,
  SHIFTER,
  1.5353357593994588e-4,
  1.339887734502554e-3,
  9.618437848985195e-3,
  5.5503323674201965e-2,
  2.4022647738456726e-1,
  6.931471824645996e-1,
  1.0,
  -Infinity,
]);
/** 127, the exponent bias, as an integer lane value. */
const EXPONENT_BIAS = memory.data<i32>([127]);

/** Keys are padded to a multiple of eight: inner loops take two vectors of four keys, two independent sums. */
function roundUp8(x: i32): i32 {
  return (x + 7) & ~7;
}

/** dst [dh, S8] = the S rows of dh floats at src, `stride` floats apart, transposed; columns S..S8 are zero. */
function transposeIn(src: usize, stride: i32, dst: usize, S: i32, S8: i32, dh: i32): void {
  for (let d = 0; d < dh; d++) {
    const row = dst + ((<usize>d * <usize>S8) << 2);
    for (let j = 0; j < S; j++) {
      store<f32>(row + ((<usize>j) << 2), load<f32>(src + ((<usize>j * <usize>stride + <usize>d) << 2)));
    }
    for (let j = S; j < S8; j++) store<f32>(row + ((<usize>j) << 2), 0);
  }
}

/** The S rows of dh floats at dst, `stride` floats apart = src [dh, S8]ᵀ (columns past S dropped). */
function transposeOut(src: usize, dst: usize, stride: i32, S: i32, S8: i32, dh: i32): void {
  for (let j = 0; j < S; j++) {
    for (let d = 0; d < dh; d++) {
      store<f32>(
        dst + ((<usize>j * <usize>stride + <usize>d) << 2),
        load<f32>(src + ((<usize>d * <usize>S8 + <usize>j) << 2)),
      );
    }
  }
}

/** Byte offset of query row r of entry n in a [B, T, H·dh] tensor. */
function queryRow(n: i32, r: i32, R: i32, T: i32, dh: i32, kvHeads: i32): usize {
  const groups = R / T;
  const b = n / kvHeads;
  const head = (n % kvHeads) * groups + r / T;
  return ((<usize>(b * T + (r % T)) * <usize>(kvHeads * groups) + <usize>head) * <usize>dh) << 2;
}

/** Byte offset of entry n's first key row in a [B, S, Hkv·dh] tensor. */
function keyBase(n: i32, S: i32, dh: i32, kvHeads: i32): usize {
  const b = n / kvHeads;
  return ((<usize>b * <usize>S * <usize>kvHeads + <usize>(n % kvHeads)) * <usize>dh) << 2;
}

/** Index of row r's first key (entry n) in the [B, H, T, S] dropout mask, wrapping at 2³² as u32 arithmetic does. */
function dropIndex(n: i32, r: i32, R: i32, T: i32, S: i32, kvHeads: i32): u32 {
  const groups = R / T;
  const head = (n % kvHeads) * groups + r / T;
  return <u32>(((n / kvHeads) * kvHeads * groups + head) * T + (r % T)) * <u32>S;
}

/** scores[j] ×= the dropout mask of keys j < count8 (a multiple of 4), whose first index is `first`. */
function dropScores(scores: usize, first: u32, count8: i32, key: u32, threshold: u32, value: f32): void {
  const step = i32x4.splat(4);
  let indices = i32x4.add(i32x4.splat(first), i32x4(0, 1, 2, 3));
  for (let j = 0; j < count8; j += 4) {
    const at = scores + ((<usize>j) << 2);
    v128.store(at, f32x4.mul(v128.load(at), keepMask4(indices, key, threshold, value)));
    indices = i32x4.add(indices, step);
  }
}

/** row[j] ×= factors[j] for j < count8 (a multiple of 4). */
function multiplyRow(row: usize, factors: usize, count8: i32): void {
  for (let j = 0; j < count8; j += 4) {
    const at = row + ((<usize>j) << 2);
    v128.store(at, f32x4.mul(v128.load(at), v128.load(factors + ((<usize>j) << 2))));
  }
}

/** maskAdd[j] = 0 for a real key j < S, −∞ for padding and for j ≥ S. Returns the first real key (S if none). */
function additiveMask(maskRow: usize, maskAdd: usize, S: i32, S8: i32): i32 {
  let first = S;
  for (let j = 0; j < S8; j++) {
    const real = j < S && load<i32>(maskRow + ((<usize>j) << 2)) == 1;
    if (real && j < first) first = j;
    store<f32>(maskAdd + ((<usize>j) << 2), real ? 0 : -Infinity);
  }
  return first;
}

/** The maximum of a row's first count8 scores. */
function rowMax(scores: usize, count8: i32): f32 {
  let m4 = f32x4.splat(-Infinity);
  for (let j = 0; j < count8; j += 4) m4 = f32x4.pmax(m4, v128.load(scores + ((<usize>j) << 2)));
  const low = max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1));
  return max(low, max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
}

/** Sets a scratch row's scores from key last + 1 up to count8 to −∞ (keys in the future of its query). */
function maskFuture(row: usize, last: i32, count8: i32): void {
  for (let j = last + 1; j < count8; j++) store<f32>(row + ((<usize>j) << 2), -Infinity);
}

/**
 * scores[0..count8) = q·kᵀ·scale + maskAdd, −∞ past `last`; returns count, the keys the row ranges over (last + 1, or
 * S with all scores 0 when no key is allowed). The row's maximum goes to the f32 at `maxOut`.
 */
function rowScores(
  qRow: usize,
  kT: usize,
  maskAdd: usize,
  scores: usize,
  last: i32,
  S: i32,
  S8: i32,
  dh: i32,
  scale: f32,
  maxOut: usize,
): i32 {
  const count8 = roundUp8(last + 1);
  const scale4 = f32x4.splat(scale);
  for (let j = 0; j < count8; j += 8) {
    let a = f32x4.splat(0);
    let b = f32x4.splat(0);
    for (let d = 0; d < dh; d++) {
      const qd = v128.load32_splat(qRow + ((<usize>d) << 2));
      const at = kT + ((<usize>d * <usize>S8 + <usize>j) << 2);
      a = madd(qd, v128.load(at), a);
      b = madd(qd, v128.load(at, 16), b);
    }
    const mask = maskAdd + ((<usize>j) << 2);
    const out = scores + ((<usize>j) << 2);
    v128.store(out, madd(a, scale4, v128.load(mask)));
    v128.store(out, madd(b, scale4, v128.load(mask, 16)), 16);
  }
  maskFuture(scores, last, count8);
  const m = rowMax(scores, count8);
  if (m == -Infinity) {
    for (let j = 0; j < S8; j++) store<f32>(scores + ((<usize>j) << 2), j < S ? 0 : -Infinity);
    store<f32>(maxOut, 0);
    return S;
  }
  store<f32>(maxOut, m);
  return last + 1;
}

/** scores[j] ← e^(scores[j] − shift) over the row's blocks, exactly 0 where the score is −∞. Returns the sum. */
function exponentiate(scores: usize, count: i32, shift: f32): f32 {
  const lowest = v128.load32_splat(EXP_TABLE);
  const log2e = v128.load32_splat(EXP_TABLE, 4);
  const shifter = v128.load32_splat(EXP_TABLE, 8);
  const c6 = v128.load32_splat(EXP_TABLE, 12);
  const c5 = v128.load32_splat(EXP_TABLE, 16);
  const c4 = v128.load32_splat(EXP_TABLE, 20);
  const c3 = v128.load32_splat(EXP_TABLE, 24);
  const c2 = v128.load32_splat(EXP_TABLE, 28);
  const c1 = v128.load32_splat(EXP_TABLE, 32);
  const one = v128.load32_splat(EXP_TABLE, 36);
  const negInf = v128.load32_splat(EXP_TABLE, 40);
  const bias = v128.load32_splat(EXPONENT_BIAS);
  const s4 = f32x4.splat(shift);
  let total = f32x4.splat(0);
  const count8 = roundUp8(count);
  for (let j = 0; j < count8; j += 4) {
    const at = scores + ((<usize>j) << 2);
    const s = v128.load(at);
    const t = f32x4.mul(f32x4.pmax(f32x4.sub(s, s4), lowest), log2e);
    const shifted = f32x4.add(t, shifter);
    const f = f32x4.sub(t, f32x4.sub(shifted, shifter));
    const p = madd(madd(madd(madd(madd(madd(c6, f, c5), f, c4), f, c3), f, c2), f, c1), f, one);
    // The shifted sum's low mantissa bits are n (two's complement; the shifter's own bits shift out).
    const e = f32x4.mul(p, i32x4.shl(i32x4.add(shifted, bias), 23));
    const kept = v128.and(e, f32x4.ne(s, negInf));
    v128.store(at, kept);
    total = f32x4.add(total, kept);
  }
  return sum4(total);
}

/** out[d] = factor · Σ_j weights[j]·rowsT[d, j] for d < dh, over the row's blocks. */
function weightedRows(weights: usize, rowsT: usize, out: usize, count: i32, S8: i32, dh: i32, factor: f32): void {
  const count8 = roundUp8(count);
  for (let d = 0; d < dh; d++) {
    const row = rowsT + ((<usize>d * <usize>S8) << 2);
    let a = f32x4.splat(0);
    let b = f32x4.splat(0);
    for (let j = 0; j < count8; j += 8) {
      const jj = (<usize>j) << 2;
      a = madd(v128.load(weights + jj), v128.load(row + jj), a);
      b = madd(v128.load(weights + jj, 16), v128.load(row + jj, 16), b);
    }
    store<f32>(out + ((<usize>d) << 2), sum4(f32x4.add(a, b)) * factor);
  }
}

/** gradT[d, j] += x[d]·weights[j] over the row's blocks (a rank-one update of a transposed gradient). */
function rankOneUpdate(x: usize, weights: usize, gradT: usize, count: i32, S8: i32, dh: i32): void {
  const count8 = roundUp8(count);
  for (let d = 0; d < dh; d++) {
    const xd = v128.load32_splat(x + ((<usize>d) << 2));
    const row = gradT + ((<usize>d * <usize>S8) << 2);
    for (let j = 0; j < count8; j += 4) {
      const at = row + ((<usize>j) << 2);
      v128.store(at, madd(xd, v128.load(weights + ((<usize>j) << 2)), v128.load(at)));
    }
  }
}

/*
 * Four query rows at a time (register blocking): each key vector loaded feeds four rows' products, and each row's
 * query value is splat once per dimension and key block rather than once per row and key block; eight keys per step
 * give eight independent sums, enough to hide the latency of the adds. The rows of a block share an entry; each keeps
 * its own causal limit. Scratch rows are S8 floats apart. Used for blocks whose rows all have an allowed key; the
 * others go row by row.
 */

/**
 * The products of four rows x0..x3 (dh floats each) with keys j..j+7 of a transposed [dh, S8] matrix: eight vectors,
 * row i's keys j..j+3 at products + 32·i and j+4..j+7 at products + 32·i + 16.
 */
function blockProducts(
  x0: usize,
  x1: usize,
  x2: usize,
  x3: usize,
  matrixT: usize,
  j: i32,
  S8: i32,
  dh: i32,
  products: usize,
): void {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0);
  let b1 = f32x4.splat(0);
  let b2 = f32x4.splat(0);
  let b3 = f32x4.splat(0);
  for (let d = 0; d < dh; d++) {
    const at = matrixT + ((<usize>d * <usize>S8 + <usize>j) << 2);
    const low = v128.load(at);
    const high = v128.load(at, 16);
    const dd = (<usize>d) << 2;
    const c0 = v128.load32_splat(x0 + dd);
    const c1 = v128.load32_splat(x1 + dd);
    const c2 = v128.load32_splat(x2 + dd);
    const c3 = v128.load32_splat(x3 + dd);
    a0 = madd(c0, low, a0);
    a1 = madd(c1, low, a1);
    a2 = madd(c2, low, a2);
    a3 = madd(c3, low, a3);
    b0 = madd(c0, high, b0);
    b1 = madd(c1, high, b1);
    b2 = madd(c2, high, b2);
    b3 = madd(c3, high, b3);
  }
  v128.store(products, a0);
  v128.store(products, b0, 16);
  v128.store(products, a1, 32);
  v128.store(products, b1, 48);
  v128.store(products, a2, 64);
  v128.store(products, b2, 80);
  v128.store(products, a3, 96);
  v128.store(products, b3, 112);
}

/** Scores of rows q0..q3 over `count8` keys into four scratch rows, each row's keys past its last set to −∞. */
function blockScores(
  q0: usize,
  q1: usize,
  q2: usize,
  q3: usize,
  kT: usize,
  maskAdd: usize,
  scores: usize,
  lasts: usize,
  products: usize,
  count8: i32,
  S8: i32,
  dh: i32,
  scale: f32,
): void {
  const scale4 = f32x4.splat(scale);
  const rowBytes = (<usize>S8) << 2;
  for (let j = 0; j < count8; j += 8) {
    blockProducts(q0, q1, q2, q3, kT, j, S8, dh, products);
    const jj = (<usize>j) << 2;
    const low = v128.load(maskAdd + jj);
    const high = v128.load(maskAdd + jj, 16);
    for (let i: usize = 0; i < 4; i++) {
      const at = scores + i * rowBytes + jj;
      const p = products + (i << 5);
      v128.store(at, madd(v128.load(p), scale4, low));
      v128.store(at, madd(v128.load(p, 16), scale4, high), 16);
    }
  }
  for (let i = 0; i < 4; i++) maskFuture(scores + <usize>i * rowBytes, load<i32>(lasts + ((<usize>i) << 2)), count8);
}

/** out_i[d] = factors[i] · Σ_j weights_i[j]·rowsT[d, j] for the block's four rows; dh is a multiple of 4. */
function blockWeightedRows(
  weights: usize,
  rowsT: usize,
  o0: usize,
  o1: usize,
  o2: usize,
  o3: usize,
  count8: i32,
  S8: i32,
  dh: i32,
  factors: usize,
): void {
  const rowBytes = (<usize>S8) << 2;
  // Two dimensions per pass: eight independent sums.
  for (let d = 0; d < dh; d += 2) {
    const first = rowsT + ((<usize>d * <usize>S8) << 2);
    const second = first + rowBytes;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0);
    let b1 = f32x4.splat(0);
    let b2 = f32x4.splat(0);
    let b3 = f32x4.splat(0);
    for (let j = 0; j < count8; j += 4) {
      const jj = (<usize>j) << 2;
      const x = v128.load(first + jj);
      const y = v128.load(second + jj);
      const w0 = v128.load(weights + jj);
      const w1 = v128.load(weights + rowBytes + jj);
      const w2 = v128.load(weights + 2 * rowBytes + jj);
      const w3 = v128.load(weights + 3 * rowBytes + jj);
      a0 = madd(w0, x, a0);
      a1 = madd(w1, x, a1);
      a2 = madd(w2, x, a2);
      a3 = madd(w3, x, a3);
      b0 = madd(w0, y, b0);
      b1 = madd(w1, y, b1);
      b2 = madd(w2, y, b2);
      b3 = madd(w3, y, b3);
    }
    const dd = (<usize>d) << 2;
    const f0 = load<f32>(factors);
    const f1 = load<f32>(factors, 4);
    const f2 = load<f32>(factors, 8);
    const f3 = load<f32>(factors, 12);
    store<f32>(o0 + dd, sum4(a0) * f0);
    store<f32>(o1 + dd, sum4(a1) * f1);
    store<f32>(o2 + dd, sum4(a2) * f2);
    store<f32>(o3 + dd, sum4(a3) * f3);
    store<f32>(o0 + dd, sum4(b0) * f0, 4);
    store<f32>(o1 + dd, sum4(b1) * f1, 4);
    store<f32>(o2 + dd, sum4(b2) * f2, 4);
    store<f32>(o3 + dd, sum4(b3) * f3, 4);
  }
}

/** gradT[d, j] += Σ_i x_i[d]·weights_i[j] over the block's four rows. */
function blockRankOneUpdate(
  x0: usize,
  x1: usize,
  x2: usize,
  x3: usize,
  weights: usize,
  gradT: usize,
  count8: i32,
  S8: i32,
  dh: i32,
): void {
  const rowBytes = (<usize>S8) << 2;
  for (let d = 0; d < dh; d++) {
    const dd = (<usize>d) << 2;
    const c0 = v128.load32_splat(x0 + dd);
    const c1 = v128.load32_splat(x1 + dd);
    const c2 = v128.load32_splat(x2 + dd);
    const c3 = v128.load32_splat(x3 + dd);
    const row = gradT + ((<usize>d * <usize>S8) << 2);
    for (let j = 0; j < count8; j += 4) {
      const jj = (<usize>j) << 2;
      // Two short sums rather than one chain of four.
      const even = madd(
        c0,
        v128.load(weights + jj),
        madd(c2, v128.load(weights + 2 * rowBytes + jj), v128.load(row + jj)),
      );
      const odd = madd(c1, v128.load(weights + rowBytes + jj), f32x4.mul(c3, v128.load(weights + 3 * rowBytes + jj)));
      v128.store(row + jj, f32x4.add(even, odd));
    }
  }
}

/** Whether rows r..r+3 form a block: inside R, and each with an allowed key (its last key ≥ the first real one). */
function blockable(r: i32, R: i32, T: i32, offset: i32, S: i32, firstReal: i32): bool {
  if (r + 4 > R) return false;
  for (let i = 0; i < 4; i++) if (min(S - 1, offset + ((r + i) % T)) < firstReal) return false;
  return true;
}

/** Stores rows r..r+3's last allowed keys at slot + 16 and returns their block's key count (rounded up to 8). */
function blockLasts(r: i32, T: i32, offset: i32, S: i32, slot: usize): i32 {
  let most = 0;
  for (let i = 0; i < 4; i++) {
    const last = min(S - 1, offset + ((r + i) % T));
    store<i32>(slot + 16 + ((<usize>i) << 2), last);
    most = max(most, last);
  }
  return roundUp8(most + 1);
}

/** Δ = dO·O for one row. */
function rowDelta(dORow: usize, outRow: usize, dh: i32): f32 {
  let delta4 = f32x4.splat(0);
  for (let d = 0; d < dh; d += 4) {
    delta4 = f32x4.add(delta4, f32x4.mul(v128.load(dORow + ((<usize>d) << 2)), v128.load(outRow + ((<usize>d) << 2))));
  }
  return sum4(delta4);
}

/**
 * One row's dS = P ⊙ (M ⊙ dO·Vᵀ − Δ) · scale into aux, over count8 keys (P in `probabilities`, the dropout mask M in
 * `drops`: ones without dropout).
 */
function rowDs(
  dORow: usize,
  outRow: usize,
  vT: usize,
  probabilities: usize,
  drops: usize,
  aux: usize,
  count8: i32,
  S8: i32,
  dh: i32,
  scale: f32,
): void {
  const delta = f32x4.splat(rowDelta(dORow, outRow, dh));
  const scale4 = f32x4.splat(scale);
  for (let j = 0; j < count8; j += 8) {
    let a = f32x4.splat(0);
    let b = f32x4.splat(0);
    for (let d = 0; d < dh; d++) {
      const g = v128.load32_splat(dORow + ((<usize>d) << 2));
      const at = vT + ((<usize>d * <usize>S8 + <usize>j) << 2);
      a = madd(g, v128.load(at), a);
      b = madd(g, v128.load(at, 16), b);
    }
    const jj = (<usize>j) << 2;
    const p = probabilities + jj;
    const m = drops + jj;
    v128.store(aux + jj, f32x4.mul(f32x4.mul(v128.load(p), f32x4.sub(f32x4.mul(a, v128.load(m)), delta)), scale4));
    const high = f32x4.sub(f32x4.mul(b, v128.load(m, 16)), delta);
    v128.store(aux + jj, f32x4.mul(f32x4.mul(v128.load(p, 16), high), scale4), 16);
  }
}

/** rowDs for a block's four rows (dO rows g_i, output rows o_i), each vᵀ vector loaded once for the four. */
function blockDs(
  g0: usize,
  g1: usize,
  g2: usize,
  g3: usize,
  o0: usize,
  o1: usize,
  o2: usize,
  o3: usize,
  vT: usize,
  probabilities: usize,
  drops: usize,
  aux: usize,
  products: usize,
  count8: i32,
  S8: i32,
  dh: i32,
  scale: f32,
): void {
  const rowBytes = (<usize>S8) << 2;
  const deltas = products + 128;
  store<f32>(deltas, rowDelta(g0, o0, dh));
  store<f32>(deltas, rowDelta(g1, o1, dh), 4);
  store<f32>(deltas, rowDelta(g2, o2, dh), 8);
  store<f32>(deltas, rowDelta(g3, o3, dh), 12);
  const scale4 = f32x4.splat(scale);
  for (let j = 0; j < count8; j += 8) {
    blockProducts(g0, g1, g2, g3, vT, j, S8, dh, products);
    const jj = (<usize>j) << 2;
    for (let i: usize = 0; i < 4; i++) {
      const delta = v128.load32_splat(deltas + (i << 2));
      const p = probabilities + i * rowBytes + jj;
      const m = drops + i * rowBytes + jj;
      const at = aux + i * rowBytes + jj;
      const dp = products + (i << 5);
      const low = f32x4.sub(f32x4.mul(v128.load(dp), v128.load(m)), delta);
      const high = f32x4.sub(f32x4.mul(v128.load(dp, 16), v128.load(m, 16)), delta);
      v128.store(at, f32x4.mul(f32x4.mul(v128.load(p), low), scale4));
      v128.store(at, f32x4.mul(f32x4.mul(v128.load(p, 16), high), scale4), 16);
    }
  }
}

/**
 * Transposes entry n's keys and values from key `skip` on (S − skip of them, their columns S8 apart) into kT, vT and
 * builds their additive mask; returns the first real key among them.
 */
function loadEntry(
  n: i32,
  skip: i32,
  k: usize,
  v: usize,
  mask: usize,
  kT: usize,
  vT: usize,
  maskAdd: usize,
  S: i32,
  S8: i32,
  dh: i32,
  kvHeads: i32,
): i32 {
  const entry = keyBase(n, S, dh, kvHeads) + ((<usize>skip * <usize>kvHeads * <usize>dh) << 2);
  const kept = S - skip;
  transposeIn(k + entry, kvHeads * dh, kT, kept, S8, dh);
  transposeIn(v + entry, kvHeads * dh, vT, kept, S8, dh);
  return additiveMask(mask + ((<usize>(n / kvHeads) * <usize>S + <usize>skip) << 2), maskAdd, kept, S8);
}

/**
 * Keys of entry n's batch row that forward may leave out: those before its first real key, in whole blocks of 8, where
 * every query row of the entry may attend a real key (its last key, offset + i, is at or past the first real one) —
 * a decoding step's left padding. Their probabilities are exactly 0 and they add exact zeros to every sum, by the same
 * lanes (blocks of 8 keep each key's lane), so the results are those of all keys bit for bit.
 */
function skippedKeys(n: i32, mask: usize, S: i32, offset: i32, kvHeads: i32): i32 {
  const row = mask + ((<usize>(n / kvHeads) * <usize>S) << 2);
  let first = 0;
  while (first < S && load<i32>(row + ((<usize>first) << 2)) != 1) first++;
  return first < S && first <= offset ? first & ~7 : 0;
}

/**
 * Starts the block of rows r..r+3 of entry n: their last allowed keys at slot + 16, their byte offsets in a
 * [B, T, H·dh] tensor at slot + 64; returns the block's key count (rounded up to 8).
 */
function startBlock(n: i32, r: i32, R: i32, T: i32, offset: i32, S: i32, dh: i32, kvHeads: i32, slot: usize): i32 {
  for (let i = 0; i < 4; i++) store<i32>(slot + 64 + ((<usize>i) << 2), <i32>queryRow(n, r + i, R, T, dh, kvHeads));
  return blockLasts(r, T, offset, S, slot);
}

/** Byte offset of the block's i-th row (see startBlock). */
function blockRow(slot: usize, i: i32): usize {
  return <usize>load<i32>(slot + 64 + ((<usize>i) << 2));
}

/**
 * Scratch (caller-placed): kT, vT [dh, S8]; maskAdd [S8]; scores [4, S8]; slot (80 floats), by byte offset: 0 a single
 * row's maximum; 16 a block's four last keys (i32); 32 its four 1/Σ factors; 48 four ones; 64 its four row offsets
 * (i32); 128 the 4 × 8 products of blockProducts; 256 blockDs's four Δ.
 */
export function forward(
  q: usize,
  k: usize,
  v: usize,
  mask: usize,
  out: usize,
  lse: usize,
  kT: usize,
  vT: usize,
  maskAdd: usize,
  scores: usize,
  slot: usize,
  N: i32,
  R: i32,
  S: i32,
  dh: i32,
  T: i32,
  offset: i32,
  kvHeads: i32,
  scale: f32,
  dropKey: u32,
  dropThreshold: u32,
  dropScale: f32,
): void {
  const dropping = dropScale != 0;
  for (let n = 0; n < N; n++) {
    // The entry's keys from `skip` on: S and offset count from there (dropout's mask indices do not, so it skips none).
    const skip = dropping ? 0 : skippedKeys(n, mask, S, offset, kvHeads);
    const Sn = S - skip;
    const S8 = roundUp8(Sn);
    const shiftedOffset = offset - skip;
    const firstReal = loadEntry(n, skip, k, v, mask, kT, vT, maskAdd, S, S8, dh, kvHeads);
    let r = 0;
    while (r < R) {
      if (blockable(r, R, T, shiftedOffset, Sn, firstReal)) {
        const count8 = startBlock(n, r, R, T, shiftedOffset, Sn, dh, kvHeads, slot);
        const a0 = blockRow(slot, 0);
        const a1 = blockRow(slot, 1);
        const a2 = blockRow(slot, 2);
        const a3 = blockRow(slot, 3);
        blockScores(q + a0, q + a1, q + a2, q + a3, kT, maskAdd, scores, slot + 16, slot + 128, count8, S8, dh, scale);
        for (let i = 0; i < 4; i++) {
          const rowScoresAt = scores + ((<usize>i * <usize>S8) << 2);
          const m = rowMax(rowScoresAt, count8);
          const total = exponentiate(rowScoresAt, count8, m);
          if (dropping)
            dropScores(rowScoresAt, dropIndex(n, r + i, R, T, S, kvHeads), count8, dropKey, dropThreshold, dropScale);
          store<f32>(slot + 32 + ((<usize>i) << 2), 1 / total);
          const row = <usize>n * <usize>R + <usize>(r + i);
          store<f32>(lse + (row << 2), m + <f32>Math.log(<f64>total));
        }
        blockWeightedRows(scores, vT, out + a0, out + a1, out + a2, out + a3, count8, S8, dh, slot + 32);
        r += 4;
        continue;
      }
      const row = <usize>n * <usize>R + <usize>r;
      const at = queryRow(n, r, R, T, dh, kvHeads);
      const last = min(Sn - 1, shiftedOffset + (r % T));
      const count = rowScores(q + at, kT, maskAdd, scores, last, Sn, S8, dh, scale, slot);
      const m = load<f32>(slot);
      const total = exponentiate(scores, count, m);
      if (dropping)
        dropScores(scores, dropIndex(n, r, R, T, S, kvHeads), roundUp8(count), dropKey, dropThreshold, dropScale);
      weightedRows(scores, vT, out + at, count, S8, dh, 1 / total);
      store<f32>(lse + (row << 2), m + <f32>Math.log(<f64>total));
      r += 1;
    }
  }
}

/**
 * Gradients of `forward`: dq [B, T, H·dh], dk, dv [B, S, Hkv·dh], all written (no need to zero them).
 * Scratch (caller-placed): kT, vT, dkT, dvT [dh, S8]; maskAdd [S8]; scores, aux, drops [4, S8]; slot (80 floats, as
 * for `forward`).
 */
export function backward(
  q: usize,
  k: usize,
  v: usize,
  mask: usize,
  out: usize,
  lse: usize,
  dOut: usize,
  dq: usize,
  dk: usize,
  dv: usize,
  kT: usize,
  vT: usize,
  dkT: usize,
  dvT: usize,
  maskAdd: usize,
  scores: usize,
  aux: usize,
  drops: usize,
  slot: usize,
  N: i32,
  R: i32,
  S: i32,
  dh: i32,
  T: i32,
  offset: i32,
  kvHeads: i32,
  scale: f32,
  dropKey: u32,
  dropThreshold: u32,
  dropScale: f32,
): void {
  const S8 = roundUp8(S);
  const keyStride = kvHeads * dh;
  const transposedBytes = (<usize>dh * <usize>S8) << 2;
  const rowBytes = (<usize>S8) << 2;
  const dropping = dropScale != 0;
  // Without dropout the mask is ones throughout.
  if (!dropping) for (let j = 0; j < 4 * S8; j++) store<f32>(drops + ((<usize>j) << 2), 1);
  for (let n = 0; n < N; n++) {
    const entry = keyBase(n, S, dh, kvHeads);
    const firstReal = loadEntry(n, 0, k, v, mask, kT, vT, maskAdd, S, S8, dh, kvHeads);
    memory.fill(dkT, 0, transposedBytes);
    memory.fill(dvT, 0, transposedBytes);
    let r = 0;
    while (r < R) {
      if (blockable(r, R, T, offset, S, firstReal)) {
        const ks = startBlock(n, r, R, T, offset, S, dh, kvHeads, slot);
        const b0 = blockRow(slot, 0);
        const b1 = blockRow(slot, 1);
        const b2 = blockRow(slot, 2);
        const b3 = blockRow(slot, 3);
        blockScores(q + b0, q + b1, q + b2, q + b3, kT, maskAdd, scores, slot + 16, slot + 128, ks, S8, dh, scale);
        for (let i = 0; i < 4; i++) {
          const row = <usize>n * <usize>R + <usize>(r + i);
          exponentiate(scores + ((<usize>i * <usize>S8) << 2), ks, load<f32>(lse + (row << 2)));
          store<f32>(slot + 48 + ((<usize>i) << 2), 1);
          if (dropping) {
            const first = dropIndex(n, r + i, R, T, S, kvHeads);
            keepMaskFrom(drops + <usize>i * rowBytes, first, ks, dropKey, dropThreshold, dropScale);
          }
        }
        blockDs(
          dOut + b0,
          dOut + b1,
          dOut + b2,
          dOut + b3,
          out + b0,
          out + b1,
          out + b2,
          out + b3,
          vT,
          scores,
          drops,
          aux,
          slot + 128,
          ks,
          S8,
          dh,
          scale,
        );
        blockWeightedRows(aux, kT, dq + b0, dq + b1, dq + b2, dq + b3, ks, S8, dh, slot + 48);
        blockRankOneUpdate(q + b0, q + b1, q + b2, q + b3, aux, dkT, ks, S8, dh);
        // dV takes the dropped probabilities.
        if (dropping)
          for (let i = 0; i < 4; i++) multiplyRow(scores + <usize>i * rowBytes, drops + <usize>i * rowBytes, ks);
        blockRankOneUpdate(dOut + b0, dOut + b1, dOut + b2, dOut + b3, scores, dvT, ks, S8, dh);
        r += 4;
        continue;
      }
      const row = <usize>n * <usize>R + <usize>r;
      const at = queryRow(n, r, R, T, dh, kvHeads);
      const qRow = q + at;
      const dORow = dOut + at;
      const last = min(S - 1, offset + (r % T));
      const count = rowScores(qRow, kT, maskAdd, scores, last, S, S8, dh, scale, slot);
      exponentiate(scores, count, load<f32>(lse + (row << 2)));
      const count8 = roundUp8(count);
      if (dropping) keepMaskFrom(drops, dropIndex(n, r, R, T, S, kvHeads), count8, dropKey, dropThreshold, dropScale);
      rowDs(dORow, out + at, vT, scores, drops, aux, count8, S8, dh, scale);
      weightedRows(aux, kT, dq + at, count, S8, dh, 1);
      rankOneUpdate(qRow, aux, dkT, count, S8, dh);
      if (dropping) multiplyRow(scores, drops, count8);
      rankOneUpdate(dORow, scores, dvT, count, S8, dh);
      r += 1;
    }
    transposeOut(dkT, dk + entry, keyStride, S, S8, dh);
    transposeOut(dvT, dv + entry, keyStride, S, S8, dh);
  }
}
