/**
 * Causal self-attention, forward and backward, in WebAssembly SIMD (AssemblyScript). Compiled by `npm run build` to
 * dist/src/engine/kernels/attention.wasm and driven by src/engine/kernels/attention-wasm.ts, which owns the memory:
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

/** maskAdd[j] = 0 for a real key j < S, −∞ for padding and for j ≥ S. Returns the first real key (S if none). */
function additiveMask(maskRow: usize, maskAdd: usize, S: i32, S4: i32): i32 {
  let first = S;
  for (let j = 0; j < S4; j++) {
    const real = j < S && load<i32>(maskRow + ((<usize>j) << 2)) == 1;
    if (real && j < first) first = j;
    store<f32>(maskAdd + ((<usize>j) << 2), real ? 0 : -Infinity);
  }
  return first;
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
  const m = rowMax(scores, count4);
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

/*
 * Four query rows at a time (register blocking): each key vector loaded feeds four rows' products, and each row's
 * query value is splat once per dimension and key block rather than once per row and key block. The rows of a block
 * share an entry; each keeps its own causal limit. Scratch rows are S4 floats apart. Used for blocks whose rows all
 * have an allowed key; the others go row by row.
 */

/**
 * The products of four rows x0..x3 (dh floats each) with keys j..j+3 of a transposed [dh, S4] matrix: four vectors,
 * row i's at products + 16·i. Each matrix vector loaded feeds the four rows.
 */
function blockProducts(
  x0: usize,
  x1: usize,
  x2: usize,
  x3: usize,
  matrixT: usize,
  j: i32,
  S4: i32,
  dh: i32,
  products: usize,
): void {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  for (let d = 0; d < dh; d++) {
    const column = v128.load(matrixT + ((<usize>d * <usize>S4 + <usize>j) << 2));
    const dd = (<usize>d) << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(x0 + dd), column));
    a1 = f32x4.add(a1, f32x4.mul(v128.load32_splat(x1 + dd), column));
    a2 = f32x4.add(a2, f32x4.mul(v128.load32_splat(x2 + dd), column));
    a3 = f32x4.add(a3, f32x4.mul(v128.load32_splat(x3 + dd), column));
  }
  v128.store(products, a0);
  v128.store(products + 16, a1);
  v128.store(products + 32, a2);
  v128.store(products + 48, a3);
}

/** Scores of rows q0..q3 over `count4` keys into four scratch rows, each row's keys past its last set to −∞. */
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
  count4: i32,
  S4: i32,
  dh: i32,
  scale: f32,
): void {
  const scale4 = f32x4.splat(scale);
  const rowBytes = (<usize>S4) << 2;
  for (let j = 0; j < count4; j += 4) {
    blockProducts(q0, q1, q2, q3, kT, j, S4, dh, products);
    const a0 = v128.load(products);
    const a1 = v128.load(products + 16);
    const a2 = v128.load(products + 32);
    const a3 = v128.load(products + 48);
    const m = v128.load(maskAdd + ((<usize>j) << 2));
    const at = scores + ((<usize>j) << 2);
    v128.store(at, f32x4.add(f32x4.mul(a0, scale4), m));
    v128.store(at + rowBytes, f32x4.add(f32x4.mul(a1, scale4), m));
    v128.store(at + 2 * rowBytes, f32x4.add(f32x4.mul(a2, scale4), m));
    v128.store(at + 3 * rowBytes, f32x4.add(f32x4.mul(a3, scale4), m));
  }
  for (let i = 0; i < 4; i++) {
    const row = scores + <usize>i * rowBytes;
    for (let j = load<i32>(lasts + ((<usize>i) << 2)) + 1; j < count4; j++)
      store<f32>(row + ((<usize>j) << 2), -Infinity);
  }
}

/** The maximum of a row's first count4 scores. */
function rowMax(scores: usize, count4: i32): f32 {
  let m4 = f32x4.splat(-Infinity);
  for (let j = 0; j < count4; j += 4) m4 = f32x4.max(m4, v128.load(scores + ((<usize>j) << 2)));
  const low = max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1));
  return max(low, max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
}

/** out_i[d] = factors[i] · Σ_j weights_i[j]·rowsT[d, j] for the block's four rows. */
function blockWeightedRows(
  weights: usize,
  rowsT: usize,
  o0: usize,
  o1: usize,
  o2: usize,
  o3: usize,
  count4: i32,
  S4: i32,
  dh: i32,
  factors: usize,
): void {
  const rowBytes = (<usize>S4) << 2;
  for (let d = 0; d < dh; d++) {
    const row = rowsT + ((<usize>d * <usize>S4) << 2);
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    for (let j = 0; j < count4; j += 4) {
      const jj = (<usize>j) << 2;
      const x = v128.load(row + jj);
      a0 = f32x4.add(a0, f32x4.mul(v128.load(weights + jj), x));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(weights + rowBytes + jj), x));
      a2 = f32x4.add(a2, f32x4.mul(v128.load(weights + 2 * rowBytes + jj), x));
      a3 = f32x4.add(a3, f32x4.mul(v128.load(weights + 3 * rowBytes + jj), x));
    }
    const dd = (<usize>d) << 2;
    store<f32>(o0 + dd, sum4(a0) * load<f32>(factors + 0));
    store<f32>(o1 + dd, sum4(a1) * load<f32>(factors + 4));
    store<f32>(o2 + dd, sum4(a2) * load<f32>(factors + 8));
    store<f32>(o3 + dd, sum4(a3) * load<f32>(factors + 12));
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
  count4: i32,
  S4: i32,
  dh: i32,
): void {
  const rowBytes = (<usize>S4) << 2;
  for (let d = 0; d < dh; d++) {
    const dd = (<usize>d) << 2;
    const c0 = v128.load32_splat(x0 + dd);
    const c1 = v128.load32_splat(x1 + dd);
    const c2 = v128.load32_splat(x2 + dd);
    const c3 = v128.load32_splat(x3 + dd);
    const row = gradT + ((<usize>d * <usize>S4) << 2);
    for (let j = 0; j < count4; j += 4) {
      const jj = (<usize>j) << 2;
      let g = v128.load(row + jj);
      g = f32x4.add(g, f32x4.mul(c0, v128.load(weights + jj)));
      g = f32x4.add(g, f32x4.mul(c1, v128.load(weights + rowBytes + jj)));
      g = f32x4.add(g, f32x4.mul(c2, v128.load(weights + 2 * rowBytes + jj)));
      g = f32x4.add(g, f32x4.mul(c3, v128.load(weights + 3 * rowBytes + jj)));
      v128.store(row + jj, g);
    }
  }
}

/** Whether rows r..r+3 form a block: inside R, and each with an allowed key (its last key ≥ the first real one). */
function blockable(r: i32, R: i32, T: i32, offset: i32, S: i32, firstReal: i32): bool {
  if (r + 4 > R) return false;
  for (let i = 0; i < 4; i++) if (min(S - 1, offset + ((r + i) % T)) < firstReal) return false;
  return true;
}

/** Stores rows r..r+3's last allowed keys at slot + 16 and returns their block's key count (rounded up to 4). */
function blockLasts(r: i32, T: i32, offset: i32, S: i32, slot: usize): i32 {
  let most = 0;
  for (let i = 0; i < 4; i++) {
    const last = min(S - 1, offset + ((r + i) % T));
    store<i32>(slot + 16 + ((<usize>i) << 2), last);
    most = max(most, last);
  }
  return roundUp4(most + 1);
}

/** Δ = dO·O for one row. */
function rowDelta(dORow: usize, outRow: usize, dh: i32): f32 {
  let delta4 = f32x4.splat(0);
  for (let d = 0; d < dh; d += 4) {
    delta4 = f32x4.add(delta4, f32x4.mul(v128.load(dORow + ((<usize>d) << 2)), v128.load(outRow + ((<usize>d) << 2))));
  }
  return sum4(delta4);
}

/** One row's dS = P ⊙ (dO·Vᵀ − Δ) · scale into aux, over count4 keys (P in `probabilities`). */
function rowDs(
  dORow: usize,
  outRow: usize,
  vT: usize,
  probabilities: usize,
  aux: usize,
  count4: i32,
  S4: i32,
  dh: i32,
  scale: f32,
): void {
  const delta = f32x4.splat(rowDelta(dORow, outRow, dh));
  const scale4 = f32x4.splat(scale);
  for (let j = 0; j < count4; j += 4) {
    let dp = f32x4.splat(0);
    for (let d = 0; d < dh; d++) {
      const g = v128.load32_splat(dORow + ((<usize>d) << 2));
      dp = f32x4.add(dp, f32x4.mul(g, v128.load(vT + ((<usize>d * <usize>S4 + <usize>j) << 2))));
    }
    const p = v128.load(probabilities + ((<usize>j) << 2));
    v128.store(aux + ((<usize>j) << 2), f32x4.mul(f32x4.mul(p, f32x4.sub(dp, delta)), scale4));
  }
}

/** rowDs for a block's four rows, each vᵀ vector loaded once for the four. */
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
  aux: usize,
  products: usize,
  count4: i32,
  S4: i32,
  dh: i32,
  scale: f32,
): void {
  const rowBytes = (<usize>S4) << 2;
  const d0 = f32x4.splat(rowDelta(g0, o0, dh));
  const d1 = f32x4.splat(rowDelta(g1, o1, dh));
  const d2 = f32x4.splat(rowDelta(g2, o2, dh));
  const d3 = f32x4.splat(rowDelta(g3, o3, dh));
  const scale4 = f32x4.splat(scale);
  for (let j = 0; j < count4; j += 4) {
    blockProducts(g0, g1, g2, g3, vT, j, S4, dh, products);
    const p0 = v128.load(products);
    const p1 = v128.load(products + 16);
    const p2 = v128.load(products + 32);
    const p3 = v128.load(products + 48);
    const jj = (<usize>j) << 2;
    const at = probabilities + jj;
    v128.store(aux + jj, f32x4.mul(f32x4.mul(v128.load(at), f32x4.sub(p0, d0)), scale4));
    v128.store(aux + rowBytes + jj, f32x4.mul(f32x4.mul(v128.load(at + rowBytes), f32x4.sub(p1, d1)), scale4));
    v128.store(aux + 2 * rowBytes + jj, f32x4.mul(f32x4.mul(v128.load(at + 2 * rowBytes), f32x4.sub(p2, d2)), scale4));
    v128.store(aux + 3 * rowBytes + jj, f32x4.mul(f32x4.mul(v128.load(at + 3 * rowBytes), f32x4.sub(p3, d3)), scale4));
  }
}

/** Transposes entry n's keys and values into kT, vT and builds its additive mask; returns its first real key. */
function loadEntry(
  n: i32,
  k: usize,
  v: usize,
  mask: usize,
  kT: usize,
  vT: usize,
  maskAdd: usize,
  S: i32,
  S4: i32,
  dh: i32,
  kvHeads: i32,
): i32 {
  const entry = keyBase(n, S, dh, kvHeads);
  transposeIn(k + entry, kvHeads * dh, kT, S, S4, dh);
  transposeIn(v + entry, kvHeads * dh, vT, S, S4, dh);
  return additiveMask(mask + ((<usize>(n / kvHeads) * <usize>S) << 2), maskAdd, S, S4);
}

/**
 * Starts the block of rows r..r+3 of entry n: their last allowed keys at slot + 16, their byte offsets in a
 * [B, T, H·dh] tensor at slot + 96; returns the block's key count (rounded up to 4).
 */
function startBlock(n: i32, r: i32, R: i32, T: i32, offset: i32, S: i32, dh: i32, kvHeads: i32, slot: usize): i32 {
  for (let i = 0; i < 4; i++) store<i32>(slot + 96 + ((<usize>i) << 2), <i32>queryRow(n, r + i, R, T, dh, kvHeads));
  return blockLasts(r, T, offset, S, slot);
}

/** Byte offset of the block's i-th row (see startBlock). */
function blockRow(slot: usize, i: i32): usize {
  return <usize>load<i32>(slot + 96 + ((<usize>i) << 2));
}

/**
 * Scratch (caller-placed): kT, vT [dh, S4]; maskAdd [S4]; scores [4, S4]; slot (32 floats).
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
  for (let n = 0; n < N; n++) {
    const firstReal = loadEntry(n, k, v, mask, kT, vT, maskAdd, S, S4, dh, kvHeads);
    let r = 0;
    while (r < R) {
      if (blockable(r, R, T, offset, S, firstReal)) {
        const count4 = startBlock(n, r, R, T, offset, S, dh, kvHeads, slot);
        const a0 = blockRow(slot, 0);
        const a1 = blockRow(slot, 1);
        const a2 = blockRow(slot, 2);
        const a3 = blockRow(slot, 3);
        blockScores(q + a0, q + a1, q + a2, q + a3, kT, maskAdd, scores, slot + 16, slot + 64, count4, S4, dh, scale);
        for (let i = 0; i < 4; i++) {
          const rowScoresAt = scores + ((<usize>i * <usize>S4) << 2);
          const m = rowMax(rowScoresAt, count4);
          const total = exponentiate(rowScoresAt, count4, m);
          store<f32>(slot + 32 + ((<usize>i) << 2), 1 / total);
          const row = <usize>n * <usize>R + <usize>(r + i);
          store<f32>(lse + (row << 2), m + <f32>Math.log(<f64>total));
        }
        blockWeightedRows(scores, vT, out + a0, out + a1, out + a2, out + a3, count4, S4, dh, slot + 32);
        r += 4;
        continue;
      }
      const row = <usize>n * <usize>R + <usize>r;
      const at = queryRow(n, r, R, T, dh, kvHeads);
      const last = min(S - 1, offset + (r % T));
      const count = rowScores(q + at, kT, maskAdd, scores, last, S, S4, dh, scale, slot);
      const m = load<f32>(slot);
      const total = exponentiate(scores, count, m);
      weightedRows(scores, vT, out + at, count, S4, dh, 1 / total);
      store<f32>(lse + (row << 2), m + <f32>Math.log(<f64>total));
      r += 1;
    }
  }
}

/**
 * Gradients of `forward`: dq [B, T, H·dh], dk, dv [B, S, Hkv·dh], all written (no need to zero them).
 * Scratch (caller-placed): kT, vT, dkT, dvT [dh, S4]; maskAdd [S4]; scores, aux [4, S4]; slot (32 floats).
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
    const firstReal = loadEntry(n, k, v, mask, kT, vT, maskAdd, S, S4, dh, kvHeads);
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
        blockScores(q + b0, q + b1, q + b2, q + b3, kT, maskAdd, scores, slot + 16, slot + 64, ks, S4, dh, scale);
        for (let i = 0; i < 4; i++) {
          const row = <usize>n * <usize>R + <usize>(r + i);
          exponentiate(scores + ((<usize>i * <usize>S4) << 2), ks, load<f32>(lse + (row << 2)));
          store<f32>(slot + 48 + ((<usize>i) << 2), 1);
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
          aux,
          slot + 64,
          ks,
          S4,
          dh,
          scale,
        );
        blockWeightedRows(aux, kT, dq + b0, dq + b1, dq + b2, dq + b3, ks, S4, dh, slot + 48);
        blockRankOneUpdate(q + b0, q + b1, q + b2, q + b3, aux, dkT, ks, S4, dh);
        blockRankOneUpdate(dOut + b0, dOut + b1, dOut + b2, dOut + b3, scores, dvT, ks, S4, dh);
        r += 4;
        continue;
      }
      const row = <usize>n * <usize>R + <usize>r;
      const at = queryRow(n, r, R, T, dh, kvHeads);
      const qRow = q + at;
      const dORow = dOut + at;
      const last = min(S - 1, offset + (r % T));
      const count = rowScores(qRow, kT, maskAdd, scores, last, S, S4, dh, scale, slot);
      exponentiate(scores, count, load<f32>(lse + (row << 2)));
      rowDs(dORow, out + at, vT, scores, aux, roundUp4(count), S4, dh, scale);
      weightedRows(aux, kT, dq + at, count, S4, dh, 1);
      rankOneUpdate(qRow, aux, dkT, count, S4, dh);
      rankOneUpdate(dORow, scores, dvT, count, S4, dh);
      r += 1;
    }
    transposeOut(dkT, dk + entry, keyStride, S, S4, dh);
    transposeOut(dvT, dv + entry, keyStride, S, S4, dh);
  }
}
