/**
 * WGSL for y = x·W′ + bias + scale · mask ⊙ (d·E′), W′ = W or Wᵀ, E′ = E or Eᵀ: a frozen base product and a low-rank
 * one (LoRA's (x·A)·B, or the gradient dy·Wᵀ + dDown·Aᵀ) in one pass over the output, without writing either product
 * on its own. A register-tiled matrix product: a workgroup of 16 × 16 invocations computes a 64 × 64 output tile, each
 * invocation a 4 × 4 block, with the operands passing through workgroup memory 16 inner indices at a time (rows of x
 * or d as vec4s of four rows, columns of W′ or E′ as vec4s of four columns); the inner loop is then four vec4
 * multiply-adds per pair of workgroup loads. The low-rank part runs as extra inner steps into its own accumulators,
 * so that the mask and the scale apply to it alone.
 */

/** Fields after tfjs's own uniforms, in this order. */
export const LOW_RANK_UNIFORMS = 'rowCount : i32, columnCount : i32, innerCount : i32, rank : i32, scale : f32,';

/** Output tile (rows and columns) and invocations per workgroup. */
export const PRODUCT_TILE = 64;
export const PRODUCT_WORKGROUP = 256;

export interface LowRankProductShape {
  /**
   * Inner size, columns and rank are multiples of 4: operands are read as vec4 (one load of four consecutive values
   * per invocation and tile) and bound as array<vec4<f32>>.
   */
  readonly vectorized: boolean;
  /** W is stored [columns, inner] (so the product uses Wᵀ). */
  readonly transposeW: boolean;
  /** E is stored [columns, rank]. */
  readonly transposeE: boolean;
  readonly bias: boolean;
  readonly mask: boolean;
}

/** Which tile an operand fills: its first row (or column) of the output tile, and how many there are. */
interface TileSide {
  readonly tile: 'aTile' | 'bTile';
  readonly origin: 'i0' | 'j0';
  readonly count: 'uniforms.rowCount' | 'uniforms.columnCount';
}

const LEFT: TileSide = { tile: 'aTile', origin: 'i0', count: 'uniforms.rowCount' };
const RIGHT: TileSide = { tile: 'bTile', origin: 'j0', count: 'uniforms.columnCount' };

/**
 * Loads inner indices k0..k0+15 of the 64 rows (or columns) from `side.origin` of an operand stored inner index
 * fastest — the left operand [rows, inner], or a right one stored transposed [columns, inner] — into `side.tile`.
 * Consecutive invocations read consecutive inner indices.
 */
function innerFastestLoad(source: string, inner: string, side: TileSide, vectorized: boolean): string {
  const { tile, origin, count } = side;
  // Vectorized: invocation t reads four consecutive inner values of line t / 4 and spreads them over the tile.
  if (vectorized)
    return `
    {
      let line = i32(localIndex) / 4;
      let k = k0 + (i32(localIndex) % 4) * 4;
      let at = ${origin} + line;
      var value = vec4<f32>(0.0);
      if (k < ${inner} && at < ${count}) {
        value = ${source}[(at * ${inner} + k) / 4];
      }
      for (var c = 0; c < 4; c++) {
        ${tile}[(k - k0 + c) * 16 + line / 4][line % 4] = value[c];
      }
    }`;
  return `
    {
      let kk = i32(localIndex) % TK;
      let group = i32(localIndex) / TK;
      let k = k0 + kk;
      var value = vec4<f32>(0.0);
      if (k < ${inner}) {
        for (var c = 0; c < 4; c++) {
          let at = ${origin} + group * 4 + c;
          if (at < ${count}) {
            value[c] = ${source}[at * ${inner} + k];
          }
        }
      }
      ${tile}[kk * 16 + group] = value;
    }`;
}

/**
 * Loads inner indices k0..k0+15 of columns j0..j0+63 of the right operand, stored [inner, columns] (consecutive
 * invocations read consecutive columns) or transposed.
 */
function rightLoad(source: string, inner: string, transposed: boolean, vectorized: boolean): string {
  if (transposed) return innerFastestLoad(source, inner, RIGHT, vectorized);
  if (vectorized)
    // Invocation t reads four consecutive columns of inner index t / 16: one vec4 of bTile.
    return `
    {
      let kk = i32(localIndex) / 16;
      let group = i32(localIndex) % 16;
      let k = k0 + kk;
      let j = j0 + group * 4;
      var value = vec4<f32>(0.0);
      if (k < ${inner} && j < uniforms.columnCount) {
        value = ${source}[(k * uniforms.columnCount + j) / 4];
      }
      bTile[kk * 16 + group] = value;
    }`;
  return `
    {
      let group = i32(localIndex) % 16;
      let kk = i32(localIndex) / 16;
      let k = k0 + kk;
      var value = vec4<f32>(0.0);
      if (k < ${inner}) {
        for (var c = 0; c < 4; c++) {
          let j = j0 + group * 4 + c;
          if (j < uniforms.columnCount) {
            value[c] = ${source}[k * uniforms.columnCount + j];
          }
        }
      }
      bTile[kk * 16 + group] = value;
    }`;
}

/** The tile's share of left·right′ over `inner`, 16 inner indices at a time, added into the accumulators `into`. */
function product(
  left: string,
  right: string,
  inner: string,
  transposed: boolean,
  vectorized: boolean,
  into: string,
): string {
  return `for (var k0 = 0; k0 < ${inner}; k0 += TK) {
    ${innerFastestLoad(left, inner, LEFT, vectorized)}
    ${rightLoad(right, inner, transposed, vectorized)}
    workgroupBarrier();
    for (var kk = 0; kk < TK; kk++) {
      let a = aTile[kk * 16 + ty];
      let b = bTile[kk * 16 + tx];
      ${into}[0] += a.x * b;
      ${into}[1] += a.y * b;
      ${into}[2] += a.z * b;
      ${into}[3] += a.w * b;
    }
    workgroupBarrier();
  }`;
}

/**
 * Inputs: x, w, d, e (vec4 arrays when `shape.vectorized`), then bias (when `shape.bias`) and mask (when
 * `shape.mask`), scalar arrays.
 */
export function lowRankProductCode(shape: LowRankProductShape): string {
  const bias = shape.bias ? ' + bias[j]' : '';
  const mask = shape.mask ? ' * mask[i * uniforms.columnCount + j]' : '';
  return `
const TK = 16;
var<workgroup> aTile : array<vec4<f32>, 256>;
var<workgroup> bTile : array<vec4<f32>, 256>;

fn main() {
  let tx = i32(localIndex) % 16;
  let ty = i32(localIndex) / 16;
  let i0 = i32(workgroupId.y) * ${PRODUCT_TILE};
  let j0 = i32(workgroupId.x) * ${PRODUCT_TILE};
  var base : array<vec4<f32>, 4>;
  var low : array<vec4<f32>, 4>;
  ${product('x', 'w', 'uniforms.innerCount', shape.transposeW, shape.vectorized, 'base')}
  ${product('d', 'e', 'uniforms.rank', shape.transposeE, shape.vectorized, 'low')}
  for (var c = 0; c < 4; c++) {
    let i = i0 + ty * 4 + c;
    if (i < uniforms.rowCount) {
      for (var q = 0; q < 4; q++) {
        let j = j0 + tx * 4 + q;
        if (j < uniforms.columnCount) {
          result[i * uniforms.columnCount + j] = base[c][q]${bias} + uniforms.scale * low[c][q]${mask};
        }
      }
    }
  }
}
`;
}
