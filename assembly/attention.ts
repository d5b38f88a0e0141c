/**
 * Causal self-attention, forward and backward, in WebAssembly SIMD (AssemblyScript). Compiled by `npm run build` to
 * dist/src/engine/kernels/attention.wasm and driven by src/engine/kernels/attention-wasm.ts, which owns the memory:
 * every pointer below is a byte offset into this module's memory, placed by the caller. Nothing here allocates.
 *
 * Layout (row-major float32), as the projections produce and consume it, so no head transposes are needed: q and out
 * [B, T, H·dh], k, v [B, S, Hkv·dh], mask int32 [B, S]; lse [N, R] with N = B·Hkv entries of R = G·T rows (G = H / Hkv
 * query heads share a key-value head). Row r = g·T + i of entry n = b·Hkv + kvh is query position i of batch row b in
 * query head kvh·G + g. Query i may attend to key j when j ≤ offset + i and mask[j] is 1; a row with no such key attends to every
 * key uniformly (as an additive −1e9 bias does in float32). Scores are scaled by `scale`. Only one row of scores exists
 * at a time, so memory is linear in the sequence length; the backward pass recomputes each row's probabilities from
 * the saved log-sum-exp, FlashAttention's way.
 *
 * Speed: each entry's keys and values are first transposed to [dh, S4] (S4 = S rounded up to 4), so that every inner
 * loop runs over four keys at once with no horizontal sums: scores are Σ_d q[d]·kᵀ[d, j..j+3], the output
 * Σ_j p[j]·vᵀ[d, j..j+3] per d, and the key/value gradients accumulate transposed, then are transposed back.
 */

const LOG2E: f32 = 1.4426950408889634;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.1219444e-4;

/** e^x for four lanes (Cephes expf: range reduction by ln 2, degree-6 polynomial; ~1 ulp on [-87, 88]). */
function exp4(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.0)), f32x4.splat(88.0));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(LOG2E)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(1.98756915e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.39819995e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.33345191e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.16657959e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.66666655e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.00000012e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  const scaleBits = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, scaleBits);
}

function sum4(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

function roundUp4(x: i32): i32 {
  return (x + 3) & ~3;
}

/** dst [dh, S4] = the S rows of dh floats at src, `stride` floats apart, transposed; columns S..S4 are zero. */
function transposeIn(src: usize, stride: i32, dst: usize, S: i32, S4: i32, dh: i32): void {
  for (let d = 0; d < dh; d++) {
    const row = dst + ((<usize>d * <usize>S4) << 2);
    for (let j = 0; j < S; j++) {
      store<f32>(row + ((<usize>j) << 2), load<f32>(src + ((<usize>j * <usize>stride + <usize>d) << 2)));
    }
    for (let j = S; j < S4; j++) store<f32>(row + ((<usize>j) << 2), 0);
  }
}

/** The S rows of dh floats at dst, `stride` floats apart = src [dh, S4]ᵀ (columns past S dropped). */
function transposeOut(src: usize, dst: usize, stride: i32, S: i32, S4: i32, dh: i32): void {
  for (let j = 0; j < S; j++) {
    for (let d = 0; d < dh; d++) {
      store<f32>(
        dst + ((<usize>j * <usize>stride + <usize>d) << 2),
        load<f32>(src + ((<usize>d * <usize>S4 + <usize>j) << 2)),
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

/** maskAdd[j] = 0 for a real key j < S, −∞ for padding and for j ≥ S. */
function additiveMask(maskRow: usize, maskAdd: usize, S: i32, S4: i32): void {
  for (let j = 0; j < S4; j++) {
    const real = j < S && load<i32>(maskRow + ((<usize>j) << 2)) == 1;
    store<f32>(maskAdd + ((<usize>j) << 2), real ? 0 : -Infinity);
  }
}

/**
 * scores[0..count4) = q·kᵀ·scale + maskAdd, −∞ past `last`; returns count, the keys the row ranges over (last + 1, or
 * S with all scores 0 when no key is allowed). The row's maximum goes to the f32 at `maxOut`.
 */
function rowScores(
  qRow: usize,
  kT: usize,
  maskAdd: usize,
  scores: usize,
  last: i32,
  S: i32,
  S4: i32,
  dh: i32,
  scale: f32,
  maxOut: usize,
): i32 {
  const count4 = roundUp4(last + 1);
  const scale4 = f32x4.splat(scale);
  for (let j = 0; j < count4; j += 4) {
    let acc = f32x4.splat(0);
    for (let d = 0; d < dh; d++) {
      const qd = v128.load32_splat(qRow + ((<usize>d) << 2));
      acc = f32x4.add(acc, f32x4.mul(qd, v128.load(kT + ((<usize>d * <usize>S4 + <usize>j) << 2))));
    }
    v128.store(scores + ((<usize>j) << 2), f32x4.add(f32x4.mul(acc, scale4), v128.load(maskAdd + ((<usize>j) << 2))));
  }
  // Keys past `last` in the final block are in the future: −∞, before the maximum is taken.
  for (let j = last + 1; j < count4; j++) store<f32>(scores + ((<usize>j) << 2), -Infinity);
  let m4 = f32x4.splat(-Infinity);
  for (let j = 0; j < count4; j += 4) m4 = f32x4.max(m4, v128.load(scores + ((<usize>j) << 2)));
  const m = max(
    max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)),
    max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)),
  );
  if (m == -Infinity) {
    for (let j = 0; j < S4; j++) store<f32>(scores + ((<usize>j) << 2), j < S ? 0 : -Infinity);
    store<f32>(maxOut, 0);
    return S;
  }
  store<f32>(maxOut, m);
  return last + 1;
}

/** scores[j] ← e^(scores[j] − shift) over the row's blocks, exactly 0 where the score is −∞. Returns the sum. */
function exponentiate(scores: usize, count: i32, shift: f32): f32 {
  const negInf = f32x4.splat(-Infinity);
  const s4 = f32x4.splat(shift);
  let total = f32x4.splat(0);
  const count4 = roundUp4(count);
  for (let j = 0; j < count4; j += 4) {
    const at = scores + ((<usize>j) << 2);
    const s = v128.load(at);
    const e = v128.and(exp4(f32x4.sub(s, s4)), f32x4.ne(s, negInf));
    v128.store(at, e);
    total = f32x4.add(total, e);
  }
  return sum4(total);
}

/** out[d] = factor · Σ_j weights[j]·rowsT[d, j] for d < dh, over the row's blocks. */
function weightedRows(weights: usize, rowsT: usize, out: usize, count: i32, S4: i32, dh: i32, factor: f32): void {
  const count4 = roundUp4(count);
  for (let d = 0; d < dh; d++) {
    const row = rowsT + ((<usize>d * <usize>S4) << 2);
    let acc = f32x4.splat(0);
    for (let j = 0; j < count4; j += 4) {
      acc = f32x4.add(acc, f32x4.mul(v128.load(weights + ((<usize>j) << 2)), v128.load(row + ((<usize>j) << 2))));
    }
    store<f32>(out + ((<usize>d) << 2), sum4(acc) * factor);
  }
}

/** gradT[d, j] += x[d]·weights[j] over the row's blocks (a rank-one update of a transposed gradient). */
function rankOneUpdate(x: usize, weights: usize, gradT: usize, count: i32, S4: i32, dh: i32): void {
  const count4 = roundUp4(count);
  for (let d = 0; d < dh; d++) {
    const xd = v128.load32_splat(x + ((<usize>d) << 2));
    const row = gradT + ((<usize>d * <usize>S4) << 2);
    for (let j = 0; j < count4; j += 4) {
      const at = row + ((<usize>j) << 2);
      v128.store(at, f32x4.add(v128.load(at), f32x4.mul(xd, v128.load(weights + ((<usize>j) << 2)))));
    }
  }
}

/**
 * Scratch (caller-placed): kT, vT [dh, S4]; maskAdd, scores [S4]; slot (4 bytes).
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
): void {
  const S4 = roundUp4(S);
  const keyStride = kvHeads * dh;
  for (let n = 0; n < N; n++) {
    const entry = keyBase(n, S, dh, kvHeads);
    transposeIn(k + entry, keyStride, kT, S, S4, dh);
    transposeIn(v + entry, keyStride, vT, S, S4, dh);
    additiveMask(mask + ((<usize>(n / kvHeads) * <usize>S) << 2), maskAdd, S, S4);
    for (let r = 0; r < R; r++) {
      const row = <usize>n * <usize>R + <usize>r;
      const at = queryRow(n, r, R, T, dh, kvHeads);
      const last = min(S - 1, offset + (r % T));
      const count = rowScores(q + at, kT, maskAdd, scores, last, S, S4, dh, scale, slot);
      const m = load<f32>(slot);
      const total = exponentiate(scores, count, m);
      weightedRows(scores, vT, out + at, count, S4, dh, 1 / total);
      store<f32>(lse + (row << 2), m + <f32>Math.log(<f64>total));
    }
  }
}

/**
 * Gradients of `forward`: dq [B, T, H·dh], dk, dv [B, S, Hkv·dh], all written (no need to zero them).
 * Scratch (caller-placed): kT, vT, dkT, dvT [dh, S4]; maskAdd, scores, aux [S4]; slot (4 bytes).
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
  slot: usize,
  N: i32,
  R: i32,
  S: i32,
  dh: i32,
  T: i32,
  offset: i32,
  kvHeads: i32,
  scale: f32,
): void {
  const S4 = roundUp4(S);
  const keyStride = kvHeads * dh;
  const transposedBytes = (<usize>dh * <usize>S4) << 2;
  for (let n = 0; n < N; n++) {
    const entry = keyBase(n, S, dh, kvHeads);
    transposeIn(k + entry, keyStride, kT, S, S4, dh);
    transposeIn(v + entry, keyStride, vT, S, S4, dh);
    memory.fill(dkT, 0, transposedBytes);
    memory.fill(dvT, 0, transposedBytes);
    additiveMask(mask + ((<usize>(n / kvHeads) * <usize>S) << 2), maskAdd, S, S4);
    for (let r = 0; r < R; r++) {
      const row = <usize>n * <usize>R + <usize>r;
      const at = queryRow(n, r, R, T, dh, kvHeads);
      const qRow = q + at;
      const dORow = dOut + at;
      const last = min(S - 1, offset + (r % T));
      const count = rowScores(qRow, kT, maskAdd, scores, last, S, S4, dh, scale, slot);
      exponentiate(scores, count, load<f32>(lse + (row << 2)));
      // Δ = dO·O; dP[j] = dO·v[j]; dS = P ⊙ (dP − Δ) · scale (into aux).
      let delta4 = f32x4.splat(0);
      for (let d = 0; d < dh; d += 4) {
        delta4 = f32x4.add(
          delta4,
          f32x4.mul(v128.load(dORow + ((<usize>d) << 2)), v128.load(out + at + ((<usize>d) << 2))),
        );
      }
      const delta = f32x4.splat(sum4(delta4));
      const scale4 = f32x4.splat(scale);
      const count4 = roundUp4(count);
      for (let j = 0; j < count4; j += 4) {
        let dp = f32x4.splat(0);
        for (let d = 0; d < dh; d++) {
          const g = v128.load32_splat(dORow + ((<usize>d) << 2));
          dp = f32x4.add(dp, f32x4.mul(g, v128.load(vT + ((<usize>d * <usize>S4 + <usize>j) << 2))));
        }
        const p = v128.load(scores + ((<usize>j) << 2));
        v128.store(aux + ((<usize>j) << 2), f32x4.mul(f32x4.mul(p, f32x4.sub(dp, delta)), scale4));
      }
      weightedRows(aux, kT, dq + at, count, S4, dh, 1);
      rankOneUpdate(qRow, aux, dkT, count, S4, dh);
      rankOneUpdate(dORow, scores, dvT, count, S4, dh);
    }
    transposeOut(dkT, dk + entry, keyStride, S, S4, dh);
    transposeOut(dvT, dv + entry, keyStride, S, S4, dh);
  }
}
