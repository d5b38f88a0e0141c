/**
 * WGSL for the products of few rows — a decoding step's, one row per sequence — with the semantics of the tiled ones
 * (low-rank-product-wgsl.ts): y = x·W + scale · t·E (+ bias) (+ addend), t = narrowScale · x·N formed in the same pass
 * (the inline variant, of one layer or a group of layers reading one x), or y = x·W (+ addend) alone (the matrix
 * product); x read as it is, RMS-normalized, or an activation's output (SwiGLU's gating of gate and up, GELU of h),
 * formed where it is read. W, N and E are stored as they are used ([inner, columns], [inner, rank], [rank, columns])
 * — W may be stored transposed — bound as vec4s.
 *
 * A tile of 64 × 64 outputs computes 64 rows whatever the rows are, each workgroup walking the whole inner size alone:
 * for 2 rows, 31/32 of its multiply-adds are on rows that do not exist, and a 768-wide layer has 12 workgroups. Here a
 * workgroup takes FEW_ROWS_AT_ONCE rows at most (as many as there are, up to that) and 16 columns, and its 256
 * invocations split the inner size: invocation (c4, split) sums, for its four columns c4·4.., the inner indices 4·k4..
 * of every SPLITS-th vec4 k4 from `split` on; the SPLITS partial sums are then added by a tree in workgroup memory,
 * in the same order every time. The narrow product t, rank wide, is summed alongside, its columns shared among the
 * four column groups; every workgroup of a row of workgroups forms the same t (rank / 16 more multiply-adds than its
 * base product, nothing next to a decoding step's dispatches), and the first writes it.
 */
import {
  PRODUCT_WORKGROUP,
  SINGLE_PLACEMENT,
  groupOperands,
  lastTerms,
  leftOperand,
  memberName,
  normalizationPrologue,
  reads,
  singleOperands,
  type InlineOperands,
  type Read,
} from './low-rank-product-wgsl.js';

/** Columns a workgroup writes, as vec4 column groups, and the inner splits its invocations take. */
const COLUMN_GROUPS = 4;
export const FEW_ROWS_TILE = 4 * COLUMN_GROUPS;
const SPLITS = PRODUCT_WORKGROUP / COLUMN_GROUPS;

/** The most rows one workgroup takes: its accumulators are that many vec4s per invocation. */
export const FEW_ROWS_AT_ONCE = 8;

/** Rows a workgroup takes for a product of `rows`: all of them, up to FEW_ROWS_AT_ONCE. */
export const fewRowsAtOnce = (rows: number): number => Math.min(rows, FEW_ROWS_AT_ONCE);

export interface FewRowsShape {
  /** Rows per workgroup (fewRowsAtOnce), compiled in. */
  readonly rowsAtOnce: number;
  readonly bias: boolean;
  readonly addend: boolean;
  readonly gatedInput?: boolean;
  /** x is GELU of `preActivation`, formed where it is read (an encoder's output projection). */
  readonly geluInput?: boolean;
  readonly normalizedInput?: boolean;
  /** The narrow product formed inline: its width (a multiple of 4, at most 16) and whether t is written (`down`). */
  readonly narrow?: { readonly rank: number; readonly writesDown: boolean };
  /** Layers reading one x, side by side along the workgroups' x (groupOperands); 1 for one layer. */
  readonly members: number;
  /**
   * W is stored [columns, inner] (a tied LM head's embedding): the splits of a column group are then neighbouring
   * invocations, so that they read neighbouring vec4s of its columns.
   */
  readonly transposeW?: boolean;
  /** E holds one more row than the rank, the columns' factors (LowRankProductShape's `columnFactors`). */
  readonly columnFactors?: boolean;
}

/** Workgroup memory the shader takes, in bytes: partial sums, rows' outputs, t's partial sums and rows, the norm's. */
export function fewRowsWorkgroupBytes(shape: FewRowsShape): number {
  const rank = shape.narrow?.rank ?? 0;
  const norm = shape.normalizedInput ? PRODUCT_WORKGROUP + shape.rowsAtOnce : 0;
  return 4 * (4 * PRODUCT_WORKGROUP + 4 * shape.rowsAtOnce * COLUMN_GROUPS + rank * (SPLITS + shape.rowsAtOnce) + norm);
}

/** The operands' accessors and the workgroup's placement: one layer's (a matrix product's too), or a group's. */
function operandsOf(shape: FewRowsShape): InlineOperands {
  const writesDown = shape.narrow?.writesDown ?? false;
  if (shape.members > 1)
    return groupOperands(FEW_ROWS_TILE, shape.members, false, writesDown, shape.narrow ? ['w', 'n', 'e'] : ['w']);
  const single = singleOperands(FEW_ROWS_TILE);
  // A matrix product has no low-rank scale.
  if (shape.narrow === undefined)
    return {
      ...single,
      placement: `
  let j0 = i32(workgroupId.x) * ${FEW_ROWS_TILE};
  let columnCount = uniforms.columnCount;`,
    };
  return { ...single, placement: SINGLE_PLACEMENT(FEW_ROWS_TILE) };
}

/**
 * The shader. Inputs and uniforms are those of the variant it stands in for: the inline product (INLINE_UNIFORMS, one
 * layer's or a group's bindings and uniforms, no masks), or the matrix product (MATRIX_PRODUCT_UNIFORMS: x or gate and
 * up, w, then the addend); a group without a narrow product binds x and each member's w and result, with the inline
 * group's uniforms (normalized-products.ts).
 */
export function fewRowsProductCode(shape: FewRowsShape): string {
  if (shape.members > 1 && (shape.gatedInput || shape.geluInput || shape.bias || shape.addend || shape.transposeW))
    throw new Error('fewRowsProductCode: a group has no activation input, bias, addend or transposed W');
  if (shape.columnFactors && shape.narrow === undefined)
    throw new Error('fewRowsProductCode: column factors are E’s last row, and a matrix product has no E');
  const operands = operandsOf(shape);
  const left = leftOperand({ ...shape, vectorized: true });
  const rank = shape.narrow?.rank ?? 0;
  const narrow = shape.narrow !== undefined;
  // t's columns c4·SHARE.. are summed by the invocations of column group c4.
  const narrowDeclarations = narrow
    ? `
const RANK = ${rank};
const SHARE = ${rank / COLUMN_GROUPS};
var<workgroup> narrowPartial : array<f32, ${SPLITS * rank}>;
var<workgroup> narrowRows : array<f32, ${shape.rowsAtOnce * rank}>;`
    : '';
  const narrowLoads = (n: Read) =>
    narrow
      ? `
    var nv : array<vec4<f32>, SHARE>;
    for (var h = 0; h < SHARE; h++) {
      let c = c4 * SHARE + h;
      for (var e = 0; e < 4; e++) {
        let at = (k + e) * RANK + c;
        nv[h][e] = ${n('at / 4')}[at % 4];
      }
    }`
      : '';
  const narrowStep = narrow
    ? `
        for (var h = 0; h < SHARE; h++) {
          narrow[r * SHARE + h] += dot(xv, nv[h]);
        }`
    : '';
  // The sums over this invocation's inner indices, reading W (and N) by `w` (and `n`).
  const innerLoop = (w: Read, n: Read) => `  for (var k4 = split; k4 < inner4; k4 += SPLITS) {
    let k = k4 * 4;
    // wv[e]: W's row k + e at the four columns.
    var wv : array<vec4<f32>, 4>;
    if (inside) {${
      shape.transposeW
        ? `
      for (var c = 0; c < 4; c++) {
        let stored = ${w('(column + c) * inner4 + k4')};
        for (var e = 0; e < 4; e++) {
          wv[e][c] = stored[e];
        }
      }`
        : `
      for (var e = 0; e < 4; e++) {
        wv[e] = ${w('((k + e) * columnCount + column) / 4')};
      }`
    }
    }${narrowLoads(n)}
    for (var r = 0; r < ROWS; r++) {
      if (i0 + r < uniforms.rowCount) {
        let xv = ${left.read('(i0 + r) * inner4 + k4')};
        acc[r] += xv.x * wv[0] + xv.y * wv[1] + xv.z * wv[2] + xv.w * wv[3];${narrowStep}
      }
    }
  }`;
  // A group's loop once per member, its bindings read directly: a switch inside the loop (the group's accessors) on
  // every load costs lavapipe a third of the dispatch. The switch is the same for the whole workgroup.
  const memberLoops = [];
  for (let l = 1; l < shape.members; l++)
    memberLoops.push(`    case ${l}: {\n${innerLoop(reads(memberName('w', l)), reads(memberName('n', l)))}\n    }`);
  const innerLoops =
    shape.members === 1
      ? innerLoop(operands.w, operands.n)
      : `  switch layer {\n${memberLoops.join('\n')}\n    default: {\n${innerLoop(reads('w'), reads('n'))}\n    }\n  }`;
  const narrowReduce = narrow
    ? {
        store: `
    for (var h = 0; h < SHARE; h++) {
      narrowPartial[split * RANK + c4 * SHARE + h] = narrow[r * SHARE + h];
    }`,
        add: `
        for (var h = 0; h < SHARE; h++) {
          let at = split * RANK + c4 * SHARE + h;
          narrowPartial[at] = narrowPartial[at] + narrowPartial[at + width * RANK];
        }`,
        keep: `
      for (var h = 0; h < SHARE; h++) {
        narrowRows[r * RANK + c4 * SHARE + h] = uniforms.narrowScale * narrowPartial[c4 * SHARE + h];
      }`,
      }
    : { store: '', add: '', keep: '' };
  const writeDown =
    shape.narrow?.writesDown === true
      ? `
  // t's values, from the first workgroup of the member's row of workgroups.
  if (j0 == 0) {
    for (var o = i32(localIndex); o < ROWS * RANK; o += ${PRODUCT_WORKGROUP}) {
      if (i0 + o / RANK < uniforms.rowCount) {
        ${operands.storeDown('i0 * RANK + o', 'narrowRows[o]')}
      }
    }
  }`
      : '';
  const lowRank = narrow
    ? `
      var low = 0.0;
      for (var h = 0; h < RANK; h++) {
        let at = h * columnCount + j;
        low += narrowRows[r * RANK + h] * ${operands.e('at / 4')}[at % 4];
      }
      value += scale * low;`
    : '';
  return `
const ROWS = ${shape.rowsAtOnce};
const TILE_ROWS = ROWS;
const COLUMN_GROUPS = ${COLUMN_GROUPS};
const SPLITS = ${SPLITS};
var<workgroup> partial : array<vec4<f32>, ${PRODUCT_WORKGROUP}>;
var<workgroup> rowOutputs : array<vec4<f32>, ${shape.rowsAtOnce * COLUMN_GROUPS}>;${narrowDeclarations}${
    operands.declarations
  }${left.declarations}

fn main() {
  // Invocation localIndex holds its partial sums at partial[localIndex]; SPLIT_STRIDE apart along the splits.${
    shape.transposeW
      ? `
  const SPLIT_STRIDE = 1;
  let split = i32(localIndex) % SPLITS;
  let c4 = i32(localIndex) / SPLITS;`
      : `
  const SPLIT_STRIDE = COLUMN_GROUPS;
  let c4 = i32(localIndex) % COLUMN_GROUPS;
  let split = i32(localIndex) / COLUMN_GROUPS;`
  }
  let i0 = i32(workgroupId.y) * ROWS;${operands.placement}${shape.normalizedInput ? normalizationPrologue : ''}
  // This invocation's four columns, where they lie inside the matrix (columnCount is a multiple of 4).
  let column = j0 + c4 * 4;
  let inside = column < columnCount;
  let inner4 = uniforms.innerCount / 4;
  var acc : array<vec4<f32>, ROWS>;${narrow ? '\n  var narrow : array<f32, ROWS * SHARE>;' : ''}
${innerLoops}
  // Each row's partial sums added over the splits, by a tree.
  for (var r = 0; r < ROWS; r++) {
    partial[localIndex] = acc[r];${narrowReduce.store}
    workgroupBarrier();
    for (var width = SPLITS / 2; width > 0; width /= 2) {
      if (split < width) {
        partial[localIndex] = partial[localIndex] + partial[i32(localIndex) + width * SPLIT_STRIDE];${narrowReduce.add}
      }
      workgroupBarrier();
    }
    if (split == 0) {
      rowOutputs[r * COLUMN_GROUPS + c4] = partial[localIndex];${narrowReduce.keep}
    }
    workgroupBarrier();
  }${writeDown}
  for (var o = i32(localIndex); o < ROWS * ${FEW_ROWS_TILE}; o += ${PRODUCT_WORKGROUP}) {
    let r = o / ${FEW_ROWS_TILE};
    let i = i0 + r;
    let j = j0 + o % ${FEW_ROWS_TILE};
    if (i < uniforms.rowCount && j < columnCount) {
      var value = rowOutputs[r * COLUMN_GROUPS + (j - j0) / 4][j % 4];${lowRank}
      ${operands.storeResult('i * columnCount + j', lastTerms(shape, 'value', { e: operands.e, rank: 'RANK', vectorized: true }))}
    }
  }
}
`;
}
