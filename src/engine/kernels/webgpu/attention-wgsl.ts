/**
 * WGSL for grouped-query attention (causal, or bidirectional for an encoder: the `reach` uniform), forward and
 * backward, in the projections' own layout (no head transposes) and with the semantics of the WebAssembly kernels
 * (assembly/attention.ts): q, out [B, T, H·dh]; k, v [B, S′, Hkv·dh] of which the first S positions are attended to
 * (S′ = keyStride > S in a KV cache with room for later steps); keyMask int32 [B, S′]; stats [N, R, 2] for
 * N = B·Hkv entries of R = G·T rows, row r = g·T + t being query position t of batch row b in head kvh·G + g
 * (n = b·Hkv + kvh). Query t may attend to key j when j ≤ reach + t (reach = S − T causally, S − 1 bidirectionally)
 * and keyMask[b, j] is 1; a row with no such key attends to all S keys uniformly (scores 0), as an additive −1e9 bias
 * does in float32.
 *
 * FlashAttention's schedule, one invocation per row (forward, dq) or per key (dk, dv): keys (or rows) pass through
 * workgroup memory a tile at a time, the row's scores are never stored, and the softmax is kept online (a running
 * maximum and sum) in the forward pass and recomputed from the saved log-sum-exp in the backward one. Each row's
 * statistics lie side by side in `stats`: the forward writes the lse, and dq's shader writes D = Σ dy·out beside it
 * for dk's (a shader of their own gathered both before, a dispatch per layer). dh is a multiple of 4: vectors are vec4,
 * and each shader is compiled per head size (DH4 = dh / 4), tile and lanes. A second output (the forward's lse, dv)
 * or a statistic written beside one (D) is a writable input (shader.ts).
 *
 * Lanes: a row (or key) may be shared by LANES neighbouring invocations of one subgroup, each holding a slice of
 * DH4 / LANES vectors of its query, accumulators and (for a key) key, value and gradients; a score or dot product is
 * the sum of the lanes' partial sums, exchanged by subgroupShuffleXor (WGSL's subgroups). One lane holds a whole row's
 * arrays: 2·dh floats in the forward pass, 3·dh for dq and 4·dh for dk and dv — past a GPU invocation's registers
 * (255 on NVIDIA) from dh = 64 on, where they spill to memory; with lanes, each holds 1/LANES of that. The butterfly
 * gives every lane of a row the same sum bit for bit. The sums run in uniform control flow — every invocation of a
 * workgroup takes every key (or row) of a tile up to the workgroup's bound, and leaves out afterwards what its row
 * does not attend to — which is where WGSL defines subgroup operations; a row's lanes never depend on how a GPU
 * regroups invocations that branch apart.
 *
 * Dropout of the probabilities (training an encoder), as the WebAssembly kernels drop them: shaders compiled with
 * dropout weigh a key's value by p·M (M = 1/keep or 0, element ((b·H + h)·T + t)·S + j of the [B, H, T, S] mask
 * by the counter-based hash, keyed and thresholded by uniforms) and take dS = p·(M·dp − D); the running sum and the
 * log-sum-exp stay those of the undropped probabilities, and D = Σ dy·out holds as it is.
 *
 * RoPE (shaders compiled with `rope`): q and k are read through `queryVector` and `keyVector`, which rotate each
 * vector as it is loaded, and dq and dk are turned back by `unrotatedGradient` before they are written
 * (attention-rope-wgsl.ts); without it the same functions read and write the vectors as they are.
 */
import { HASHED_KEEP_WGSL, dropoutArguments, dropoutUniforms } from './hashed-dropout-wgsl.js';
import { attentionRopeCode } from './attention-rope-wgsl.js';

/**
 * What a shader is compiled for: vectors per head (dh / 4), rows or keys per workgroup tile, lanes per row, whether
 * the probabilities are dropped, and whether q and k come before RoPE with its tables (`turns`, attention-rope-wgsl.ts).
 */
export interface AttentionShaderShape {
  readonly dh4: number;
  readonly tile: number;
  readonly lanes: number;
  readonly dropout: boolean;
  readonly rope: boolean;
}

/** Fields after tfjs's own uniforms, set by the kernels in this order. */
export const ATTENTION_UNIFORMS =
  'rows : i32, queries : i32, keys : i32, kvHeads : i32, groups : i32, entries : i32, reach : i32, keyStride : i32, ' +
  'scale : f32, ' +
  dropoutUniforms('drop');

/** Invocations per workgroup with one lane per row. */
export const ATTENTION_WORKGROUP = 64;

/** Invocations per workgroup for `lanes` lanes per row: 64 rows (or keys) per workgroup, up to 256 invocations. */
export const attentionWorkgroup = (lanes: number): number => Math.min(ATTENTION_WORKGROUP * lanes, 256);

/**
 * The WGSL directives a shader with `lanes` lanes per row needs. No diagnostic is turned off: Tint's uniformity
 * analysis accepts the shuffles only in subgroup-uniform control flow, so it checks the shaders' structure.
 */
export const laneDirectives = (lanes: number): string[] => (lanes === 1 ? [] : ['enable subgroups']);

/** `laneSum(value)`: the sum of the value over the row's lanes, the same in each (a butterfly of shuffles). */
function laneSumCode(lanes: number): string {
  const steps = [];
  for (let width = 1; width < lanes; width *= 2) steps.push(`  total += subgroupShuffleXor(total, ${width}u);`);
  return `
fn laneSum(value : f32) -> f32 {
  var total = value;
${steps.join('\n')}
  return total;
}
`;
}

/** Where rows and keys lie in the tensors, shared by every shader. */
function indexingCode(dh4: number, lanes: number): string {
  if (dh4 % lanes !== 0) throw new Error(`${lanes} lanes cannot share a head of ${4 * dh4}`);
  const workgroup = attentionWorkgroup(lanes);
  return `
const DH4 = ${dh4};
const LANES = ${lanes};
// Vectors of a row each lane holds, and rows (or keys) per workgroup.
const SLICE = ${dh4 / lanes};
const WG = ${workgroup};
const ROWS = ${workgroup / lanes};
${laneSumCode(lanes)}
// Offset, in vec4s, of row r of entry n in a [B, T, H·dh] tensor.
fn rowOffset(n : i32, r : i32) -> i32 {
  let b = n / uniforms.kvHeads;
  let head = (n % uniforms.kvHeads) * uniforms.groups + r / uniforms.queries;
  let t = r % uniforms.queries;
  return ((b * uniforms.queries + t) * uniforms.kvHeads * uniforms.groups + head) * DH4;
}

// Offset, in vec4s, of key j of entry n in a [B, keyStride, Hkv·dh] tensor (keyStride ≥ S: a KV cache's room).
fn keyOffset(n : i32, j : i32) -> i32 {
  let b = n / uniforms.kvHeads;
  return ((b * uniforms.keyStride + j) * uniforms.kvHeads + n % uniforms.kvHeads) * DH4;
}

// The tables' position (batch row and index) of query row r of entry n, and of key j: one sequence, no past (RoPE).
fn queryPosition(n : i32, r : i32) -> i32 {
  return (n / uniforms.kvHeads) * uniforms.queries + r % uniforms.queries;
}

fn keyPosition(n : i32, j : i32) -> i32 {
  return (n / uniforms.kvHeads) * uniforms.keys + j;
}

// The last key row r may attend to by position (reach: keys − queries causally, keys − 1 for an encoder).
fn lastKey(r : i32) -> i32 {
  return min(uniforms.keys - 1, uniforms.reach + r % uniforms.queries);
}

// Four consecutive floats of the output from offset o.
fn writeVector(o : i32, value : vec4<f32>) {
  result[o] = value.x;
  result[o + 1] = value.y;
  result[o + 2] = value.z;
  result[o + 3] = value.w;
}
`;
}

/**
 * \`keptFactor(n, r, j)\`: row r's (entry n) factor for key j under dropout — 1/keep where the mask keeps it, else 0;
 * 1 in a shader compiled without dropout. The key and threshold are u32 passed as i32 bit patterns; the index wraps at
 * 2³² as the other backends' does.
 */
function dropoutCode(dropout: boolean): string {
  if (!dropout) return `fn keptFactor(n : i32, r : i32, j : i32) -> f32 {\n  return 1.0;\n}\n`;
  return `${HASHED_KEEP_WGSL}
fn keptFactor(n : i32, r : i32, j : i32) -> f32 {
  let kvHeads = u32(uniforms.kvHeads);
  let groups = u32(uniforms.groups);
  let queries = u32(uniforms.queries);
  let entry = u32(n);
  let row = u32(r);
  let head = (entry / kvHeads) * kvHeads * groups + (entry % kvHeads) * groups + row / queries;
  let index = (head * queries + row % queries) * u32(uniforms.keys) + u32(j);
  return hashedKeep(index, ${dropoutArguments('drop')});
}
`;
}

/** Indexing, the key mask of the shaders that range over keys, their dropout factor and the vectors' RoPE. */
function commonCode({ dh4, lanes, dropout, rope }: AttentionShaderShape): string {
  return `${indexingCode(dh4, lanes)}
${dropoutCode(dropout)}
${attentionRopeCode(rope, lanes)}
var<workgroup> firstRealKey : atomic<i32>;

fn isRealKey(b : i32, j : i32) -> bool {
  return keyMask[b * uniforms.keyStride + j] == 1;
}

// The first key of batch row b whose mask is 1 (S if none), found by the whole workgroup.
fn findFirstRealKey(b : i32) -> i32 {
  if (localIndex == 0u) {
    atomicStore(&firstRealKey, uniforms.keys);
  }
  workgroupBarrier();
  for (var j = i32(localIndex); j < uniforms.keys; j += WG) {
    if (isRealKey(b, j)) {
      atomicMin(&firstRealKey, j);
      break;
    }
  }
  workgroupBarrier();
  return atomicLoad(&firstRealKey);
}
`;
}

/**
 * WGSL `fn NAME(value : i32) -> i32`: the least or greatest (`pick`) of the workgroup's invocations' values, read by
 * every invocation uniformly (a loop bound the lanes' shuffles may run under).
 */
function workgroupReduction(name: string, pick: 'min' | 'max'): string {
  return `
var<workgroup> ${name}Values : array<i32, WG>;
var<workgroup> ${name}Result : i32;

fn ${name}(value : i32) -> i32 {
  ${name}Values[localIndex] = value;
  workgroupBarrier();
  if (localIndex == 0u) {
    var picked = ${name}Values[0];
    for (var i = 1; i < WG; i++) {
      picked = ${pick}(picked, ${name}Values[i]);
    }
    ${name}Result = picked;
  }
  return workgroupUniformLoad(&${name}Result);
}
`;
}

/** Rows of the workgroup reach keys up to the largest of their limits, and from the smallest of their first keys. */
const WORKGROUP_BOUND = workgroupReduction('workgroupBound', 'max') + workgroupReduction('workgroupBegin', 'min');

/**
 * Loads TILE consecutive vectors of dh from `start` of two tensors (keys and values, or query rows and their output
 * gradients) into firstTile and secondTile, zeros past `count`; `offset(n, index)` places them, and the first's are
 * read by `load` (`keyVector` or `queryVector`, with the position `position(n, index)`: rotated under RoPE).
 */
function tilePairLoad(
  [load, fromSecond]: readonly [string, string],
  [count, offset, position]: readonly [string, string, string],
) {
  return `for (var i = i32(localIndex); i < TILE * DH4; i += WG) {
      let index = start + i / DH4;
      var a = vec4<f32>(0.0);
      var c = vec4<f32>(0.0);
      if (index < ${count}) {
        let o = ${offset}(n, index) + i % DH4;
        a = ${load}(o, i % DH4, ${position}(n, index));
        c = ${fromSecond}[o];
      }
      firstTile[i] = a;
      secondTile[i] = c;
    }`;
}

interface RowShaderParts {
  /** Before the key loop: the row's own values (`query` must be set). */
  readonly prologue: string;
  /**
   * For every key of the workgroup's tile, attended or not, in uniform control flow: the sums over the lanes other
   * than the score (`laneSum` may be called here only).
   */
  readonly everyKey?: string;
  /** For each key the row attends to, after its score `s`; its vectors are firstTile and secondTile[jj·DH4 + d]. */
  readonly perKey: string;
  /** After the loop, for every invocation (in uniform control flow: `unrotatedGradient` may be called here only). */
  readonly uniformEnd?: string;
  /** After the loop, for a live row. */
  readonly epilogue: string;
}

/**
 * A shader with LANES invocations per query row (forward, dq): the row they own (clamped; `live` says whether it
 * exists), its last key, whether it attends uniformly (`evenly`), the keys it ranges over (`limit`) and the offset in
 * vec4s of the lane's slice of it (`at`) and its position in the RoPE tables (`position`); then the workgroup's keys
 * and values pass through workgroup memory a tile at a time, up to the workgroup's bound, and each key the row attends
 * to gets its score `s` (0 for a uniform row; masked keys are skipped). A lane's slice of a key's vectors is firstTile
 * and secondTile[jj·DH4 + slice + d].
 */
function rowShader(shape: AttentionShaderShape, parts: RowShaderParts): string {
  return `${commonCode(shape)}
${tileDeclarations(shape)}
${rowFunction(parts)}
fn main() {
  rowMain(i32(workgroupId.x));
}
`;
}

/**
 * The constants and workgroup memory of the row and key shaders: the tile, the workgroup's bounds, two tiles of
 * vectors (a row shader's keys and values, a key shader's query rows and their output gradients) and the key
 * shader's per-row values.
 */
function tileDeclarations({ dh4, tile }: AttentionShaderShape): string {
  return `const TILE = ${tile};
${WORKGROUP_BOUND}
var<workgroup> firstTile : array<vec4<f32>, ${tile * dh4}>;
var<workgroup> secondTile : array<vec4<f32>, ${tile * dh4}>;
var<workgroup> rowDelta : array<f32, ${tile}>;
var<workgroup> rowLogSum : array<f32, ${tile}>;
var<workgroup> rowLast : array<i32, ${tile}>;
var<workgroup> rowUniform : array<i32, ${tile}>;
var<workgroup> tileReaches : atomic<i32>;
var<workgroup> tileNeeded : i32;`;
}

/** `rowMain(group)`: a row shader's work for workgroup `group` of its entry's rows (tiles: keys, values). */
function rowFunction(parts: RowShaderParts): string {
  return `
fn rowMain(group : i32) {
  let n = i32(workgroupId.y);
  let b = n / uniforms.kvHeads;
  let lane = i32(localIndex) % LANES;
  let slice = lane * SLICE;
  let r = group * ROWS + i32(localIndex) / LANES;
  let live = r < uniforms.rows;
  let row = min(r, uniforms.rows - 1);
  let last = lastKey(row);
  let first = findFirstRealKey(b);
  let evenly = first > last;
  let limit = select(last, uniforms.keys - 1, evenly);
  let end = workgroupBound(select(-1, limit, live));
  // A row attends to no key before its batch row's first real one (a uniform row to every key): the tiles before the
  // workgroup's first such key are left out, a decoding step's left padding. The keys scored are the same, in the same
  // order, so the results are too.
  let begin = workgroupBegin(select(select(first, 0, evenly), uniforms.keys, !live));
  let at = rowOffset(n, row) + slice;
  let position = queryPosition(n, row);
  var query : array<vec4<f32>, SLICE>;
  ${parts.prologue}
  for (var start = begin; start <= end; start += TILE) {
    ${tilePairLoad(['keyVector', 'v'], ['uniforms.keys', 'keyOffset', 'keyPosition'])}
    workgroupBarrier();
    // Every invocation scores every key of the tile up to the workgroup's bound, in uniform control flow (the lanes'
    // shuffles are defined there only); what the row does not attend to is then left out.
    let count = min(TILE, end - start + 1);
    for (var jj = 0; jj < count; jj++) {
      var sum = 0.0;
      for (var d = 0; d < SLICE; d++) {
        sum += dot(query[d], firstTile[jj * DH4 + slice + d]);
      }
      let score = laneSum(sum) * uniforms.scale;
      ${parts.everyKey ?? ''}
      let j = start + jj;
      if (live && j <= limit && (evenly || isRealKey(b, j))) {
        let s = select(score, 0.0, evenly);
        ${parts.perKey}
      }
    }
    workgroupBarrier();
  }
  ${parts.uniformEnd ?? ''}
  if (live) {
    ${parts.epilogue}
  }
}
`;
}

/**
 * Forward: `result` is out (B·T·H·dh). Dispatch: ⌈R / ROWS⌉ × N. Inputs: q, k, v (vec4), keyMask, lse (the stats,
 * written: each row's first).
 */
export function attentionForwardCode(shape: AttentionShaderShape): string {
  return rowShader(shape, {
    prologue: `
  for (var d = 0; d < SLICE; d++) {
    query[d] = queryVector(at + d, slice + d, position);
  }
  var acc : array<vec4<f32>, SLICE>;
  var most = -3.0e38;
  var total = 0.0;`,
    perKey: `
        if (s > most) {
          let shrink = exp(most - s);
          total *= shrink;
          for (var d = 0; d < SLICE; d++) {
            acc[d] *= shrink;
          }
          most = s;
        }
        let p = exp(s - most);
        total += p;
        let kept = p * keptFactor(n, row, j);
        for (var d = 0; d < SLICE; d++) {
          acc[d] += kept * secondTile[jj * DH4 + slice + d];
        }`,
    epilogue: `
    let inverse = 1.0 / total;
    for (var d = 0; d < SLICE; d++) {
      writeVector(4 * (at + d), acc[d] * inverse);
    }
    if (lane == 0) {
      lse[2 * (n * uniforms.rows + row)] = most + log(total);
    }`,
  });
}

/** The query shader's parts; `writesDelta`: each row's D goes beside its lse in `stats`, for the key shader next. */
function queryGradientParts(writesDelta: boolean): RowShaderParts {
  return {
    prologue: `
  var gradient : array<vec4<f32>, SLICE>;
  var deltaSum = 0.0;
  for (var d = 0; d < SLICE; d++) {
    query[d] = queryVector(at + d, slice + d, position);
    gradient[d] = dy[at + d];
    deltaSum += dot(gradient[d], attended[at + d]);
  }
  let delta = laneSum(deltaSum);
  let logSum = stats[2 * (n * uniforms.rows + row)];${
    writesDelta
      ? `
  if (live && lane == 0) {
    stats[2 * (n * uniforms.rows + row) + 1] = delta;
  }`
      : ''
  }
  var acc : array<vec4<f32>, SLICE>;`,
    everyKey: `
      var dpSum = 0.0;
      for (var d = 0; d < SLICE; d++) {
        dpSum += dot(gradient[d], secondTile[jj * DH4 + slice + d]);
      }
      let dp = laneSum(dpSum);`,
    perKey: `
        let p = exp(s - logSum);
        let ds = p * (dp * keptFactor(n, row, j) - delta);
        for (var d = 0; d < SLICE; d++) {
          acc[d] += ds * firstTile[jj * DH4 + slice + d];
        }`,
    uniformEnd: `
  for (var d = 0; d < SLICE; d++) {
    acc[d] *= uniforms.scale;
  }
  let dq = unrotatedGradient(acc, slice, position);`,
    epilogue: `
    for (var d = 0; d < SLICE; d++) {
      writeVector(4 * (at + d), dq[d]);
    }`,
  };
}

/**
 * Backward for the queries: `result` is dq (B·T·H·dh). Per row, D = Σ dy·out, then over its keys p = e^{s − lse},
 * dq += p·(M·dy·v − D)·k, times the scale; D goes beside the row's lse in `stats`, for the keys' shader after it.
 * Dispatch: ⌈R / ROWS⌉ × N. Inputs: q, k, v, dy (vec4), keyMask, stats (written), attended (the forward output, vec4).
 */
export function attentionQueryGradientCode(shape: AttentionShaderShape): string {
  return rowShader(shape, queryGradientParts(true));
}

/**
 * `keyMain(group)`: the key shader's work for workgroup `group` of its entry's keys. Each tile's rows come with their
 * D: read from `stats` (written there by the query shader) or, where `deltasFrom` is 'attended', summed here from dy
 * and the forward output as the query shader sums them (the same products in the same order: the same bits). dk is
 * written to the output, or to `dKey` where `dKeyTo` says so.
 */
function keyFunction(deltasFrom: 'stats' | 'attended', dKeyTo: 'result' | 'dKey'): string {
  const deltas =
    deltasFrom === 'stats'
      ? ''
      : `
    // Each tile row's D = Σ dy·out over its lanes, as the query shader sums it.
    for (var base = 0; base < TILE; base += ROWS) {
      let ii = base + i32(localIndex) / LANES;
      let o = rowOffset(n, min(start + ii, uniforms.rows - 1)) + slice;
      var deltaSum = 0.0;
      for (var d = 0; d < SLICE; d++) {
        deltaSum += dot(dy[o + d], attended[o + d]);
      }
      let delta = laneSum(deltaSum);
      if (lane == 0 && ii < TILE) {
        rowDelta[ii] = delta;
      }
    }`;
  const write = dKeyTo === 'result' ? 'writeVector(4 * (at + d), unrotated[d]);' : 'dKey[at + d] = unrotated[d];';
  return `
fn keyMain(group : i32) {
  let n = i32(workgroupId.y);
  let b = n / uniforms.kvHeads;
  let lane = i32(localIndex) % LANES;
  let slice = lane * SLICE;
  let firstKey = group * ROWS;
  let j = firstKey + i32(localIndex) / LANES;
  let live = j < uniforms.keys;
  let key = min(j, uniforms.keys - 1);
  let first = findFirstRealKey(b);
  let keyIsReal = isRealKey(b, key);

  let at = keyOffset(n, key) + slice;
  let position = keyPosition(n, key);
  var keyRow : array<vec4<f32>, SLICE>;
  var valueRow : array<vec4<f32>, SLICE>;
  for (var d = 0; d < SLICE; d++) {
    keyRow[d] = keyVector(at + d, slice + d, position);
    valueRow[d] = v[at + d];
  }
  var dk : array<vec4<f32>, SLICE>;
  var dv : array<vec4<f32>, SLICE>;
  for (var start = 0; start < uniforms.rows; start += TILE) {
    if (localIndex == 0u) {
      atomicStore(&tileReaches, 0);
    }
    workgroupBarrier();
    for (var i = i32(localIndex); i < TILE; i += WG) {
      let r = start + i;
      var delta = 0.0;
      var logSum = 0.0;
      var last = -1;
      var evenly = 0;
      if (r < uniforms.rows) {
        logSum = stats[2 * (n * uniforms.rows + r)];${
          deltasFrom === 'stats'
            ? `
        delta = stats[2 * (n * uniforms.rows + r) + 1];`
            : ''
        }
        last = lastKey(r);
        evenly = select(0, 1, first > last);
        // Causal rows that end before this workgroup's first key give its keys nothing.
        if (evenly == 1 || last >= firstKey) {
          atomicStore(&tileReaches, 1);
        }
      }
      rowDelta[i] = delta;
      rowLogSum[i] = logSum;
      rowLast[i] = last;
      rowUniform[i] = evenly;
    }
    workgroupBarrier();
    if (localIndex == 0u) {
      tileNeeded = atomicLoad(&tileReaches);
    }
    if (workgroupUniformLoad(&tileNeeded) == 0) {
      continue;
    }${deltas}
    ${tilePairLoad(['queryVector', 'dy'], ['uniforms.rows', 'rowOffset', 'queryPosition'])}
    workgroupBarrier();
    // Every invocation takes every row of the tile, in uniform control flow (the lanes' shuffles are defined there
    // only); rows that do not attend to this key are then left out.
    let count = min(TILE, uniforms.rows - start);
    for (var ii = 0; ii < count; ii++) {
      var sum = 0.0;
      var dpSum = 0.0;
      for (var d = 0; d < SLICE; d++) {
        sum += dot(firstTile[ii * DH4 + slice + d], keyRow[d]);
        dpSum += dot(secondTile[ii * DH4 + slice + d], valueRow[d]);
      }
      let score = laneSum(sum) * uniforms.scale;
      let dp = laneSum(dpSum);
      let evenly = rowUniform[ii] == 1;
      if (live && (evenly || (keyIsReal && key <= rowLast[ii]))) {
        let p = exp(select(score, 0.0, evenly) - rowLogSum[ii]);
        let m = keptFactor(n, start + ii, key);
        let ds = p * (dp * m - rowDelta[ii]);
        let kept = p * m;
        for (var d = 0; d < SLICE; d++) {
          dv[d] += kept * secondTile[ii * DH4 + slice + d];
          dk[d] += ds * firstTile[ii * DH4 + slice + d];
        }
      }
    }
    workgroupBarrier();
  }
  for (var d = 0; d < SLICE; d++) {
    dk[d] *= uniforms.scale;
  }
  let unrotated = unrotatedGradient(dk, slice, position);
  if (live) {
    for (var d = 0; d < SLICE; d++) {
      ${write}
      dValue[at + d] = dv[d];
    }
  }
}
`;
}

/**
 * Backward for the keys and values: `result` is dk (B·S·Hkv·dh), dv goes to `dValue`. LANES invocations per key; the
 * entry's rows pass through workgroup memory a tile at a time with their D, lse, last key and whether they attend
 * uniformly; a tile of rows that all end before the workgroup's first key is skipped (half the tiles, causally).
 * dv += p·M·dy, dk += p·(M·dy·v − D)·q (times the scale). Dispatch: ⌈S / ROWS⌉ × N.
 * Inputs: q, k, v, dy (vec4), keyMask, stats, dValue (vec4, written).
 */
export function attentionKeyGradientCode(shape: AttentionShaderShape): string {
  return `${commonCode(shape)}
${tileDeclarations(shape)}
${keyFunction('stats', 'result')}
fn main() {
  keyMain(i32(workgroupId.x));
}
`;
}

/**
 * Both backward shaders in one dispatch: the first ⌈R / ROWS⌉ workgroups of each entry are the query shader's (dq,
 * the output), the next ⌈S / ROWS⌉ the key shader's (dk to `dKey`, dv to `dValue`), which sums each row's D
 * itself rather than read what the query shader wrote: the two run side by side. A branch on the workgroup is uniform
 * for its invocations, so each side's barriers and shuffles stay in uniform control flow. The same sums as the two
 * dispatches, bit for bit. Dispatch: (⌈R / ROWS⌉ + ⌈S / ROWS⌉) × N. Inputs: q, k, v, dy (vec4), keyMask, stats,
 * attended (vec4), dKey and dValue (vec4, written).
 */
export function attentionGradientCode(shape: AttentionShaderShape): string {
  return `${commonCode(shape)}
${tileDeclarations(shape)}
${rowFunction(queryGradientParts(false))}
${keyFunction('attended', 'dKey')}
var<workgroup> workgroupNumber : i32;

fn main() {
  // The workgroup's number read through workgroup memory: the analysis of uniform control flow counts tfjs's copy of
  // workgroup_id (a private variable) as varying, and each side's barriers need a branch it knows to be uniform.
  if (localIndex == 0u) {
    workgroupNumber = i32(workgroupId.x);
  }
  let group = workgroupUniformLoad(&workgroupNumber);
  let queryGroups = (uniforms.rows + ROWS - 1) / ROWS;
  if (group < queryGroups) {
    rowMain(group);
  } else {
    keyMain(group - queryGroups);
  }
}
`;
}
