/**
 * WGSL for y = x·W′ + bias + scale · mask ⊙ (d·E′) (+ addend), W′ = W or Wᵀ, E′ = E or Eᵀ: a frozen base product and a
 * low-rank one (LoRA's (x·A)·B, or the gradient dy·Wᵀ + dDown·Aᵀ) in one pass over the output, without writing either
 * product on its own. A register-tiled matrix product: a workgroup of 16 × 16 invocations computes a 64·B × 64·B output
 * tile, each invocation B × B blocks of 4 × 4 (rows ty·4 + 64·p, columns tx·4 + 64·q), with the operands passing
 * through workgroup memory 16 inner indices at a time (rows of x or d as vec4s of four rows, columns of W′ or E′ as
 * vec4s of four columns); the inner loop is then 4·B² vec4 multiply-adds per 2·B workgroup loads — B = 2 halves the
 * loads per multiply-add of B = 1, for twice the accumulator registers. In lowRankProductCode the low-rank part runs
 * first, into the same accumulators, which are then scaled and masked (the mask and the scale apply to it alone) before
 * the base product's inner steps add onto them; inlineLowRankProductCode forms d itself and adds the low-rank part
 * last.
 */
/** Fields after tfjs's own uniforms, in this order. */
export const LOW_RANK_UNIFORMS = 'rowCount : i32, columnCount : i32, innerCount : i32, rank : i32, scale : f32,';

/** Invocations per workgroup, and the output tile's side for `blocks` 4 × 4 blocks per invocation and side. */
export const PRODUCT_WORKGROUP = 256;
export const productTile = (blocks: ProductBlocks): number => 64 * blocks;

/** 4 × 4 blocks per invocation along each side: 1 (64 × 64 tiles) or 2 (128 × 128). */
export type ProductBlocks = 1 | 2;

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
  /** An addend shaped like the output, added last (a residual stream). */
  readonly addend: boolean;
  readonly blocks: ProductBlocks;
}

/** Which tile an operand fills: its first row (or column) of the output tile, and how many there are. */
interface TileSide {
  readonly tile: 'aTile' | 'bTile';
  readonly origin: 'i0' | 'j0';
  readonly count: 'uniforms.rowCount' | 'uniforms.columnCount';
}

const LEFT: TileSide = { tile: 'aTile', origin: 'i0', count: 'uniforms.rowCount' };
const RIGHT: TileSide = { tile: 'bTile', origin: 'j0', count: 'uniforms.columnCount' };

/*
 * Workgroup tiles hold, for each of the TK inner indices, GROUPS = 16 · BLOCKS vec4s: group g is rows (or columns)
 * 4g..4g+3 of the output tile. Each load below runs once per block (`part`), filling groups 16·part..16·part+15.
 */

/**
 * Loads inner indices k0..k0+15 of the tile's rows (or columns) from `side.origin` of an operand stored inner index
 * fastest — the left operand [rows, inner], or a right one stored transposed [columns, inner] — into `side.tile`.
 * Consecutive invocations read consecutive inner indices.
 */
function innerFastestLoad(source: string, inner: string, side: TileSide, vectorized: boolean): string {
  const { tile, origin, count } = side;
  // Vectorized: invocation t reads four consecutive inner values of line t / 4 and spreads them over the tile.
  if (vectorized)
    return `
    for (var part = 0; part < BLOCKS; part++) {
      let line = i32(localIndex) / 4 + part * 64;
      let k = k0 + (i32(localIndex) % 4) * 4;
      let at = ${origin} + line;
      var value = vec4<f32>(0.0);
      if (k < ${inner} && at < ${count}) {
        value = ${source}[(at * ${inner} + k) / 4];
      }
      for (var c = 0; c < 4; c++) {
        ${tile}[(k - k0 + c) * GROUPS + line / 4][line % 4] = value[c];
      }
    }`;
  return `
    for (var part = 0; part < BLOCKS; part++) {
      let kk = i32(localIndex) % TK;
      let group = i32(localIndex) / TK + part * 16;
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
      ${tile}[kk * GROUPS + group] = value;
    }`;
}

/**
 * Loads inner indices k0..k0+15 of the tile's columns of the right operand, stored [inner, columns] (consecutive
 * invocations read consecutive columns) or transposed.
 */
function rightLoad(source: string, inner: string, transposed: boolean, vectorized: boolean): string {
  if (transposed) return innerFastestLoad(source, inner, RIGHT, vectorized);
  if (vectorized)
    // Invocation t reads four consecutive columns of inner index t / 16: one vec4 of bTile.
    return `
    for (var part = 0; part < BLOCKS; part++) {
      let kk = i32(localIndex) / 16;
      let group = i32(localIndex) % 16 + part * 16;
      let k = k0 + kk;
      let j = j0 + group * 4;
      var value = vec4<f32>(0.0);
      if (k < ${inner} && j < uniforms.columnCount) {
        value = ${source}[(k * uniforms.columnCount + j) / 4];
      }
      bTile[kk * GROUPS + group] = value;
    }`;
  return `
    for (var part = 0; part < BLOCKS; part++) {
      let group = i32(localIndex) % 16 + part * 16;
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
      bTile[kk * GROUPS + group] = value;
    }`;
}

/**
 * The tile's share of left·right′ over `inner`, 16 inner indices at a time, added into the accumulators `into`:
 * into[(p · BLOCKS + q) · 4 + c] holds row ty·4 + 64·p + c, columns tx·4 + 64·q .. + 3.
 */
function product(
  left: string,
  right: string,
  inner: string,
  transposed: boolean,
  vectorized: boolean,
  into: string,
  alongside: Alongside = { loads: '', step: '' },
): string {
  return `for (var k0 = 0; k0 < ${inner}; k0 += TK) {
    ${innerFastestLoad(left, inner, LEFT, vectorized)}
    ${rightLoad(right, inner, transposed, vectorized)}${alongside.loads}
    workgroupBarrier();
    for (var kk = 0; kk < TK; kk++) {
      var a : array<vec4<f32>, BLOCKS>;
      var b : array<vec4<f32>, BLOCKS>;
      for (var p = 0; p < BLOCKS; p++) {
        a[p] = aTile[kk * GROUPS + ty + p * 16];
        b[p] = bTile[kk * GROUPS + tx + p * 16];
      }
      for (var p = 0; p < BLOCKS; p++) {
        for (var q = 0; q < BLOCKS; q++) {
          let block = (p * BLOCKS + q) * 4;
          ${into}[block] += a[p].x * b[q];
          ${into}[block + 1] += a[p].y * b[q];
          ${into}[block + 2] += a[p].z * b[q];
          ${into}[block + 3] += a[p].w * b[q];
        }
      }${alongside.step}
    }
    workgroupBarrier();
  }`;
}

/** WGSL run beside a product's inner steps: more loads into workgroup memory, and work for each inner index kk. */
interface Alongside {
  readonly loads: string;
  readonly step: string;
}

/** Visits an invocation's outputs inside the matrix: row i, column j, accumulator acc[block][r]. */
const eachOutput = (body: string) => `for (var p = 0; p < BLOCKS; p++) {
    for (var c = 0; c < 4; c++) {
      let i = i0 + p * 64 + ty * 4 + c;
      if (i < uniforms.rowCount) {
        for (var q = 0; q < BLOCKS; q++) {
          let block = (p * BLOCKS + q) * 4 + c;
          for (var r = 0; r < 4; r++) {
            let j = j0 + q * 64 + tx * 4 + r;
            if (j < uniforms.columnCount) {
              ${body}
            }
          }
        }
      }
    }
  }`;

/** The constants, workgroup tiles and first lines of main() that every variant shares; `declarations` go before. */
const opening = (blocks: ProductBlocks, declarations = '') => `
const TK = 16;
const BLOCKS = ${blocks};
const GROUPS = ${16 * blocks};
var<workgroup> aTile : array<vec4<f32>, ${256 * blocks}>;
var<workgroup> bTile : array<vec4<f32>, ${256 * blocks}>;${declarations}

fn main() {
  let tx = i32(localIndex) % 16;
  let ty = i32(localIndex) / 16;
  let i0 = i32(workgroupId.y) * ${productTile(blocks)};
  let j0 = i32(workgroupId.x) * ${productTile(blocks)};
  // One set of accumulators for both products (registers are what limits a tile on a GPU).
  var acc : array<vec4<f32>, ${4 * blocks * blocks}>;`;

/** The low-rank part's factor per output, where the shape has a mask. */
const outputMask = (shape: LowRankProductShape) => (shape.mask ? ' * mask[i * uniforms.columnCount + j]' : '');

/** The terms after the products: bias and addend, where the shape has them. */
const lastTerms = (shape: LowRankProductShape) =>
  `${shape.bias ? ' + bias[j]' : ''}${shape.addend ? ' + addend[i * uniforms.columnCount + j]' : ''}`;

/**
 * Inputs: x, w, d, e (vec4 arrays when `shape.vectorized`), then bias, mask and addend where the shape has them,
 * scalar arrays.
 */
export function lowRankProductCode(shape: LowRankProductShape): string {
  const terms = lastTerms(shape);
  const mask = outputMask(shape);
  // The low-rank part first, scaled and masked in place, then the base product added onto it.
  return `${opening(shape.blocks)}
  ${product('d', 'e', 'uniforms.rank', shape.transposeE, shape.vectorized, 'acc')}
  ${eachOutput(`acc[block][r] = uniforms.scale * acc[block][r]${mask};`)}
  ${product('x', 'w', 'uniforms.innerCount', shape.transposeW, shape.vectorized, 'acc')}
  ${eachOutput(`result[i * uniforms.columnCount + j] = acc[block][r]${terms};`)}
}
`;
}

/** The narrow product the inline variant forms beside the base product. */
export interface InlineNarrowShape {
  /** Its width, compiled in: a multiple of 4, at most INLINE_MOST_RANK. */
  readonly rank: number;
  /** N is stored [rank, inner] (so the narrow product uses Nᵀ). */
  readonly transposeN: boolean;
  /** A mask shaped like x multiplies x in the narrow product alone (dropout on a LoRA layer's input). */
  readonly inputMask: boolean;
}

/**
 * The widest narrow product the inline variant forms: its [tile rows, rank] result is kept in aTile's workgroup memory
 * once the base product is done, and E′'s [rank, tile columns] in bTile's.
 */
export const INLINE_MOST_RANK = 16;

/** Uniform fields of the inline variant: LOW_RANK_UNIFORMS' and the narrow product's scale. */
export const INLINE_UNIFORMS = `${LOW_RANK_UNIFORMS} narrowScale : f32,`;

/** Workgroup memory the inline variant takes, in bytes: the two tiles, N′'s inner step and the input mask's. */
export function inlineWorkgroupBytes(blocks: ProductBlocks, shape: InlineNarrowShape): number {
  return 4 * (2 * 1024 * blocks + 16 * shape.rank + (shape.inputMask ? 16 * 64 * blocks : 0));
}

/**
 * y = x·W′ + bias + scale · mask ⊙ (t·E′) with t = narrowScale · (inputMask ⊙ x)·N′ formed in the same pass and
 * written to the second output `down` — a LoRA layer's output (N′ = A, E′ = B: t is x·A) or its input gradient (x = dy,
 * W′ = Wᵀ, N′ = Bᵀ, E′ = Aᵀ: t is dDown = s·dy·Bᵀ). Without it, t takes a dispatch of its own before the product
 * (narrow-product.ts); here each workgroup forms t for its tile's rows from the x tile it already holds, as the base
 * product's inner steps run — the tiles of one row of tiles each form the same t, rank / tile width more multiply-adds
 * than the base product's (an eighth at r = 8 and 64 × 64 tiles) — and the first column of tiles writes it. The
 * low-rank part is added last, from workgroup memory. Vectorized shapes only (inner, columns and rank multiples of 4).
 * Inputs: x, w, n, e (vec4 arrays), `down` (written), then bias, inputMask (a vec4 array), mask and addend where
 * the shape has them.
 */
export function inlineLowRankProductCode(shape: LowRankProductShape, narrow: InlineNarrowShape): string {
  const terms = lastTerms(shape);
  const mask = outputMask(shape);
  const blocks = shape.blocks;
  const tileRows = productTile(blocks);
  const narrowAt = narrow.transposeN ? 'c * uniforms.innerCount + k' : 'k * RANK + c';
  // Loads N′'s rows k0..k0+15, and the input mask's columns k0..k0+15 of the tile's rows as x's are loaded.
  const loads = `
    for (var e = i32(localIndex); e < TK * RANK; e += ${PRODUCT_WORKGROUP}) {
      let k = k0 + e / RANK;
      let c = e % RANK;
      var value = 0.0;
      if (k < uniforms.innerCount) {
        let at = ${narrowAt};
        value = n[at / 4][at % 4];
      }
      nTile[e] = value;
    }${
      narrow.inputMask
        ? `
    for (var part = 0; part < BLOCKS; part++) {
      let line = i32(localIndex) / 4 + part * 64;
      let k = k0 + (i32(localIndex) % 4) * 4;
      var value = vec4<f32>(0.0);
      if (k < uniforms.innerCount && i0 + line < uniforms.rowCount) {
        value = inputMask[((i0 + line) * uniforms.innerCount + k) / 4];
      }
      for (var c = 0; c < 4; c++) {
        maskTile[(k - k0 + c) * TILE_ROWS + line] = value[c];
      }
    }`
        : ''
    }`;
  const inputMaskFactor = narrow.inputMask ? ' * maskTile[kk * TILE_ROWS + narrowRow]' : '';
  // Invocation t forms t's row t % TILE_ROWS, columns SHARE·(t / TILE_ROWS) onward.
  const step = `
      let xk = aTile[kk * GROUPS + narrowRow / 4][narrowRow % 4]${inputMaskFactor};
      for (var c = 0; c < SHARE; c++) {
        narrow[c] += xk * nTile[kk * RANK + narrowColumn + c];
      }`;
  const declarations = `
const RANK = ${narrow.rank};
const TILE_ROWS = ${tileRows};
const SHARE = ${(narrow.rank * tileRows) / PRODUCT_WORKGROUP};
var<workgroup> nTile : array<f32, ${16 * narrow.rank}>;${
    narrow.inputMask ? `\nvar<workgroup> maskTile : array<f32, ${16 * tileRows}>;` : ''
  }`;
  return `${opening(blocks, declarations)}
  let narrowRow = i32(localIndex) % TILE_ROWS;
  let narrowColumn = (i32(localIndex) / TILE_ROWS) * SHARE;
  var narrow : array<f32, SHARE>;
  ${product('x', 'w', 'uniforms.innerCount', shape.transposeW, true, 'acc', { loads, step })}
  // t's values: into aTile (free now) as [TILE_ROWS, RANK], and from the first column of tiles into down.
  for (var c = 0; c < SHARE; c++) {
    let value = uniforms.narrowScale * narrow[c];
    let at = narrowRow * RANK + narrowColumn + c;
    aTile[at / 4][at % 4] = value;
    if (workgroupId.x == 0u && i0 + narrowRow < uniforms.rowCount) {
      down[(i0 + narrowRow) * RANK + narrowColumn + c] = value;
    }
  }
  // E′'s RANK rows (its inner indices) into bTile.
  let k0 = 0;
  ${rightLoad('e', 'uniforms.rank', shape.transposeE, true)}
  workgroupBarrier();
  ${eachOutput(`var low = 0.0;
              let line = i - i0;
              let column = j - j0;
              for (var h = 0; h < RANK; h++) {
                let at = line * RANK + h;
                low += aTile[at / 4][at % 4] * bTile[h * GROUPS + column / 4][column % 4];
              }
              result[i * uniforms.columnCount + j] = acc[block][r] + uniforms.scale * low${mask}${terms};`)}
}
`;
}
