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
 * last, for one layer or (with members) for a group of layers that read the same x; inlineGradientGroupCode forms such
 * a group's input gradient; matrixProductCode is the base product alone. Every mask is a LoRA layer's dropout mask on
 * its input, made from its hash where it is read (hashed-dropout-wgsl.ts), so no mask is bound. For a layer split at
 * its dropout (DoRA's), x may be read through its mask m or through 1 − m, and a mask may multiply a product's whole
 * sum (`inputMasked`, `maskedSum`, `outputMasked`). Off the tape, x may be formed where it is read: SwiGLU's gating of
 * two inputs, or an RMSNorm of x (leftOperand).
 */
import { HASHED_KEEP_WGSL, dropoutAt, dropoutAt4, dropoutUniforms } from './hashed-dropout-wgsl.js';
import { gatedValue, sigmoidCode } from './swiglu.js';
import { erfCode, geluGradientLines, geluValue } from './gelu.js';
import { ROW_WORKGROUP } from './row-shader.js';

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
  /** The low-rank part is multiplied by a dropout mask shaped like the output (uniforms `dropout…`). */
  readonly mask: boolean;
  /** An addend shaped like the output, added last (a residual stream). */
  readonly addend: boolean;
  readonly blocks: ProductBlocks;
  /**
   * The inner step's multiply-adds and the narrow product's written out one by one, every accumulator named by a
   * constant index (MCEVAL_WEBGPU_PRODUCT_CODE=unrolled), where loops over the blocks index them otherwise: the same
   * operations in the same order, so the same bits.
   */
  readonly unrolled?: boolean | undefined;
  /**
   * Each operand's next inner indices read into registers while the current ones' multiply-adds run
   * (MCEVAL_WEBGPU_PRODUCT_PREFETCH=on; prefetchedProduct): the same operations in the same order, so the same bits.
   */
  readonly prefetch?: boolean | undefined;
  /**
   * x is SwiGLU's gating silu(gate)·up, read from the bindings `gate` and `up` as x's tiles are loaded (gatedInput):
   * the inline variant of one layer and the matrix product only.
   */
  readonly gatedInput?: boolean;
  /**
   * x is GELU of the binding `preActivation`, formed as x's tiles are loaded with McevalGelu's expression (an encoder's
   * output projection in training): one layer's products only.
   */
  readonly geluInput?: boolean;
  /**
   * x is RMS-normalized as its tiles are loaded, by the norm weight `normWeight` (vec4s) and uniform normEps, each
   * row's reciprocal RMS formed first (normalizationPrologue): the inline variant, of one layer or a group, which then
   * writes no `down` — for forward passes off the tape, which keep nothing for a backward one.
   */
  readonly normalizedInput?: boolean;
  /**
   * E′ holds one more row than the rank, each output column's factor, that multiplies the products' sum before the
   * bias and addend are added (DoRA's c = m / ‖W + s·A·B‖ off the tape): the forward products only (E′ not transposed).
   */
  readonly columnFactors?: boolean;
  /**
   * x is read times its dropout mask m (`kept`: the dropped-out input) or times 1 − m (`rest`: what the dropout takes
   * away), m made where it is read from uniforms `inputDropout…` — both products then read it so. Not with a gated or
   * normalized x.
   */
  readonly inputMasked?: MaskUse;
  /** The mask multiplies the products' whole sum, not the low-rank part alone (the input gradient of a dropped x). */
  readonly maskedSum?: boolean;
  /**
   * The sum is the gradient dx of an activation's output x, and what is written is the gradient of its inputs: for
   * SwiGLU's gating x = silu(g)·u, dg = dx·u·silu′(g) as the output and du = dx·silu(g) into `dUp` (written), from the
   * bindings `gradientGate` and `gradientUp`; for x = GELU(h), dh = dx·GELU′(h), from `gradientInput` (vec4s, the
   * output's shape) — McevalSwiGluGrad's and McevalGeluGrad's expressions, so their values: one layer's input
   * gradient, inline or not (a decoder's down projection, an encoder's output projection, in training).
   */
  readonly activationGradient?: Activation | undefined;
  /**
   * A layer split at its dropout (DoRA's under dropout) forms its rest in the same pass, by a second set of accumulators
   * over the same W tiles (restTile holding the rest's left operand): `input`, its output — x read dropped out for the
   * products (`inputMasked` kept) and through 1 − m for the rest x_r·W, written with the bias and addend to
   * `restOutput` (the dropped part then takes neither) — or `gradient`, its input gradient (`maskedSum`): the rest's
   * upstream bound as `restInput`, and (1 − m) ⊙ (restInput·Wᵀ) + addend added to the masked sum. The same sums in
   * the same order as the rest's own McevalMatrixProduct, so the same bits. The inline variant of one layer only; x
   * may be an activation's, read from its inputs (`gatedInput`, `geluInput`), and an input gradient may write the
   * activation's input gradients (`activationGradient`): a down projection split at its dropout.
   */
  readonly restAlongside?: RestAlongside | undefined;
  /**
   * With a rest alongside an output: the layer's output is rest + dropped ⊙ (magnitude / norms) per column (DoRA's
   * scaling, McevalMagnitudeScale's expression), written as the output, the dropped part to `droppedOutput` (its
   * magnitude's gradient reads it), from the bindings `magnitude` and `norms`.
   */
  readonly magnitudeScaled?: boolean | undefined;
}

/** Which product of a layer split at its dropout forms its rest alongside (LowRankProductShape's `restAlongside`). */
export type RestAlongside = 'input' | 'gradient';

/** An activation whose output x a product forms from its inputs where it reads x: SwiGLU's gating, or GELU. */
export type Activation = 'swiglu' | 'gelu';

/** The shape's fields for reading x as `activation` of its inputs (as it is stored where undefined). */
export const activationReads = (
  activation: Activation | undefined,
): Pick<LowRankProductShape, 'gatedInput' | 'geluInput'> => ({
  gatedInput: activation === 'swiglu',
  geluInput: activation === 'gelu',
});

/** How a product uses a dropout mask m: as it is (`kept`), or as 1 − m (`rest`, what the dropout takes away). */
export type MaskUse = 'kept' | 'rest';

/** WGSL: `mask`, an expression of a dropout mask's element (or elements), used as `use` says. */
export const maskUsed = (mask: string, use: MaskUse): string => (use === 'kept' ? mask : `(1.0 - ${mask})`);

/** Which tile an operand fills: its first row (or column) of the output tile, and how many there are. */
interface TileSide {
  readonly tile: 'aTile' | 'bTile' | 'restTile';
  readonly origin: 'i0' | 'j0';
  readonly count: 'uniforms.rowCount' | 'columnCount';
}

const LEFT: TileSide = { tile: 'aTile', origin: 'i0', count: 'uniforms.rowCount' };
const RIGHT: TileSide = { tile: 'bTile', origin: 'j0', count: 'columnCount' };
/** The rest's left operand, beside x's (LowRankProductShape's `restAlongside`). */
const REST_LEFT: TileSide = { tile: 'restTile', origin: 'i0', count: 'uniforms.rowCount' };

/** An operand's element (a vec4 where it is bound as vec4s) at a WGSL index expression. */
export type Read = (at: string) => string;

/** Reads of the input bound as `name`. */
export const reads =
  (name: string): Read =>
  (at) =>
    `${name}[${at}]`;

/**
 * The left operand x: bound as `x` and read as it is, or normalized as it is read (`normalizedInput`), or with
 * `gatedInput` formed from `gate` and `up` where it is read (McevalSwiGlu's values, swiglu.ts), or with `geluInput`
 * GELU of `preActivation` — times its input mask's element where `inputMasked` (not normalized) — with the WGSL
 * declarations that takes.
 */
export function leftOperand(
  shape: Pick<LowRankProductShape, 'gatedInput' | 'geluInput' | 'normalizedInput' | 'vectorized' | 'inputMasked'>,
  masksFrom = 'uniforms.',
): {
  read: Read;
  declarations: string;
} {
  if (shape.normalizedInput) {
    if (shape.inputMasked !== undefined) throw new Error('leftOperand: a masked x is not normalized');
    return { read: (at) => `normalizedInput(${at})`, declarations: NORMALIZED_INPUT_WGSL };
  }
  const stored = storedLeftOperand(shape);
  if (shape.inputMasked === undefined) return stored;
  return {
    read: maskedRead(stored.read, shape.inputMasked, shape.vectorized, masksFrom),
    declarations: stored.declarations,
  };
}

/** x as it is stored, or formed from the activation's inputs where it is read (leftOperand's). */
function storedLeftOperand(shape: Pick<LowRankProductShape, 'gatedInput' | 'geluInput' | 'vectorized'>): {
  read: Read;
  declarations: string;
} {
  const type = shape.vectorized ? 'vec4<f32>' : 'f32';
  if (shape.geluInput)
    return {
      read: (at) => `geluInput(${at})`,
      declarations: `${erfCode('inputErf', type)}
fn geluInput(at : i32) -> ${type} {
  let v = preActivation[at];
  return ${geluValue('v', 'inputErf')};
}`,
    };
  if (!shape.gatedInput) return { read: reads('x'), declarations: '' };
  return {
    read: (at) => `gatedInput(${at})`,
    declarations: `${sigmoidCode('gateSigmoid', type)}
fn gatedInput(at : i32) -> ${type} {
  let g = gate[at];
  return ${gatedValue('g', 'up[at]', 'gateSigmoid')};
}`,
  };
}

/**
 * `read` times its input mask's element (or 1 − it), made from its element index: four at a time where x is read as
 * vec4s (at a vec4 index: its first element's is four times it). An expression read where x is loaded, in main(): the
 * mask's fields come from `masksFrom` (the uniforms, or a group member's, chosen into main's variables).
 */
function maskedRead(read: Read, use: MaskUse, vectorized: boolean, masksFrom: string): Read {
  const mask = (at: string) =>
    vectorized ? dropoutAt4('inputDropout', `(${at}) * 4`, masksFrom) : dropoutAt('inputDropout', at, masksFrom);
  return (at) => `(${read(at)} * ${maskUsed(mask(at), use)})`;
}

/** Rows of x whose reciprocal RMS a workgroup forms at once: McevalRmsNorm's workgroup to each. */
const NORM_ROWS_AT_ONCE = PRODUCT_WORKGROUP / ROW_WORKGROUP;

/**
 * x's vec4 at a vec4 index, RMS-normalized: x·r·w as McevalRmsNorm writes it (rms-norm.ts), r its row's reciprocal
 * RMS from rowRms (normalizationPrologue) and w the norm weight.
 */
const NORMALIZED_INPUT_WGSL = `
var<private> normFirstRow : i32;
var<workgroup> normPartial : array<f32, ${PRODUCT_WORKGROUP}>;
var<workgroup> rowRms : array<f32, TILE_ROWS>;

fn normalizedInput(at : i32) -> vec4<f32> {
  let e = at * 4;
  let r = rowRms[e / uniforms.innerCount - normFirstRow];
  return x[at] * r * normWeight[(e % uniforms.innerCount) / 4];
}`;

/**
 * The tile's rows' reciprocal RMS into rowRms, each as McevalRmsNorm forms it — ROW_WORKGROUP invocations to a row,
 * each summing the squares of a strided slice, then a tree — for NORM_ROWS_AT_ONCE rows at a time: the same bits.
 */
export const normalizationPrologue = `
  normFirstRow = i0;
  let normLane = i32(localIndex) % ${ROW_WORKGROUP};
  let normLine = i32(localIndex) / ${ROW_WORKGROUP};
  let normRows = min(TILE_ROWS, uniforms.rowCount - i0);
  // The loop's barriers need a bound uniformity analysis sees as uniform: not i0, read from workgroupId (a private
  // variable tfjs sets); a decoding step's few rows still take one round.
  for (var first = 0; first < min(TILE_ROWS, uniforms.rowCount); first += ${NORM_ROWS_AT_ONCE}) {
    let line = first + normLine;
    var squares = 0.0;
    if (line < normRows) {
      let base = (i0 + line) * uniforms.innerCount;
      for (var i = normLane; i < uniforms.innerCount; i += ${ROW_WORKGROUP}) {
        let value = x[(base + i) / 4][(base + i) % 4];
        squares += value * value;
      }
    }
    workgroupBarrier();
    normPartial[localIndex] = squares;
    workgroupBarrier();
    for (var width = ${ROW_WORKGROUP / 2}; width > 0; width /= 2) {
      if (normLane < width) {
        normPartial[localIndex] = normPartial[localIndex] + normPartial[i32(localIndex) + width];
      }
      workgroupBarrier();
    }
    if (normLane == 0 && line < normRows) {
      rowRms[line] = inverseSqrt(normPartial[localIndex] / f32(uniforms.innerCount) + uniforms.normEps);
    }
  }
  workgroupBarrier();`;

/*
 * Workgroup tiles hold, for each of the TK inner indices, GROUPS = 16 · BLOCKS vec4s: group g is rows (or columns)
 * 4g..4g+3 of the output tile. Each load below runs once per block (`part`), filling groups 16·part..16·part+15.
 */

/**
 * One invocation's share of loading an operand's 16 inner indices into a workgroup tile, in three parts run for each
 * block (`part`): where its value goes (`place`: WGSL `let`s from localIndex and part), reading the value for the
 * indices from WGSL expression `k0` on (`fetch`: into `var value`, zeros outside the operand), and writing a value into
 * the tile (`store`). A load runs the three together (directLoad); a prefetched product (prefetchedProduct) runs the
 * next indices' fetch before the current ones' inner steps and their store after.
 */
interface TileLoad {
  readonly place: string;
  readonly fetch: (k0: string) => string;
  readonly store: (value: string) => string;
}

/**
 * Loads of the tile's rows (or columns) from `side.origin` of an operand stored inner index fastest — the left operand
 * [rows, inner], or a right one stored transposed [columns, inner] — into `side.tile`. Consecutive invocations read
 * consecutive inner indices.
 */
function innerFastestLoad(source: Read, inner: string, side: TileSide, vectorized: boolean): TileLoad {
  const { tile, origin, count } = side;
  // Vectorized: invocation t reads four consecutive inner values of line t / 4 and spreads them over the tile.
  if (vectorized)
    return {
      place: `
      let line = i32(localIndex) / 4 + part * 64;
      let offset = (i32(localIndex) % 4) * 4;`,
      fetch: (k0) => `
      let at = ${origin} + line;
      let k = ${k0} + offset;
      var value = vec4<f32>(0.0);
      if (k < ${inner} && at < ${count}) {
        value = ${source(`(at * ${inner} + k) / 4`)};
      }`,
      store: (value) => `
      for (var c = 0; c < 4; c++) {
        ${tile}[(offset + c) * GROUPS + line / 4][line % 4] = ${value}[c];
      }`,
    };
  return {
    place: `
      let offset = i32(localIndex) % TK;
      let group = i32(localIndex) / TK + part * 16;`,
    fetch: (k0) => `
      let k = ${k0} + offset;
      var value = vec4<f32>(0.0);
      if (k < ${inner}) {
        for (var c = 0; c < 4; c++) {
          let at = ${origin} + group * 4 + c;
          if (at < ${count}) {
            value[c] = ${source(`at * ${inner} + k`)};
          }
        }
      }`,
    store: (value) => `
      ${tile}[offset * GROUPS + group] = ${value};`,
  };
}

/**
 * Loads of the tile's rows (or columns) from `side.origin` of an operand stored inner index slowest — the right operand
 * [inner, columns], or a left one stored transposed [inner, rows] — into `side.tile`. Consecutive invocations read
 * consecutive rows (or columns).
 */
function innerSlowestLoad(source: Read, inner: string, side: TileSide, vectorized: boolean): TileLoad {
  const { tile, origin, count } = side;
  const place = `
      let offset = i32(localIndex) / 16;
      let group = i32(localIndex) % 16 + part * 16;`;
  const store = (value: string) => `
      ${tile}[offset * GROUPS + group] = ${value};`;
  if (vectorized)
    // Invocation t reads four consecutive lines of inner index t / 16: one vec4 of the tile.
    return {
      place,
      fetch: (k0) => `
      let k = ${k0} + offset;
      let at = ${origin} + group * 4;
      var value = vec4<f32>(0.0);
      if (k < ${inner} && at < ${count}) {
        value = ${source(`(k * ${count} + at) / 4`)};
      }`,
      store,
    };
  return {
    place,
    fetch: (k0) => `
      let k = ${k0} + offset;
      var value = vec4<f32>(0.0);
      if (k < ${inner}) {
        for (var c = 0; c < 4; c++) {
          let at = ${origin} + group * 4 + c;
          if (at < ${count}) {
            value[c] = ${source(`k * ${count} + at`)};
          }
        }
      }`,
    store,
  };
}

/** Loads of an operand of `side`, stored inner index fastest unless `innerSlowest`. */
const sideLoad = (source: Read, inner: string, side: TileSide, innerSlowest: boolean, vectorized: boolean) =>
  innerSlowest ? innerSlowestLoad(source, inner, side, vectorized) : innerFastestLoad(source, inner, side, vectorized);

/** Loads of the right operand, stored [inner, columns] or transposed. */
const rightLoad = (source: Read, inner: string, transposed: boolean, vectorized: boolean) =>
  sideLoad(source, inner, RIGHT, !transposed, vectorized);

/** A load's inner indices k0..k0+15 read and written into its tile, block after block. */
const directLoad = ({ place, fetch, store }: TileLoad) => `
    for (var part = 0; part < BLOCKS; part++) {${place}${fetch('k0')}${store('value')}
    }`;

/**
 * The tile's share of left′·right′ over `inner` (left′ = leftᵀ when `leftTransposed`, right′ = rightᵀ when
 * `transposed`), 16 inner indices at a time, added into the accumulators `into`:
 * into[(p · BLOCKS + q) · 4 + c] holds row ty·4 + 64·p + c, columns tx·4 + 64·q .. + 3.
 */
function product(
  tiling: ProductTiling,
  left: Read,
  right: Read,
  inner: string,
  transposed: boolean,
  vectorized: boolean,
  into: string,
  alongside: Alongside = { loads: '', step: '' },
  leftTransposed = false,
): string {
  const loads = [
    sideLoad(left, inner, LEFT, leftTransposed, vectorized),
    rightLoad(right, inner, transposed, vectorized),
  ];
  const steps = `for (var kk = 0; kk < TK; kk++) {${innerStep(tiling, into)}${alongside.step}
    }`;
  if (tiling.prefetch === true) return prefetchedProduct(tiling, loads, inner, steps, alongside.loads);
  return `for (var k0 = 0; k0 < ${inner}; k0 += TK) {${loads.map(directLoad).join('')}${alongside.loads}
    workgroupBarrier();
    ${steps}
    workgroupBarrier();
  }`;
}

/**
 * `product` with each operand's next 16 inner indices read from memory into registers (`next0`, `next1`: a vec4 per
 * block) before the current ones' inner steps run, and written into the tiles after them — the reads' latency hidden
 * behind the multiply-adds rather than waited for at the barrier (MCEVAL_WEBGPU_PRODUCT_PREFETCH=on). The alongside
 * loads are not prefetched. The same values reach the tiles in the same order: the same bits.
 */
function prefetchedProduct(
  tiling: ProductTiling,
  loads: readonly TileLoad[],
  inner: string,
  steps: string,
  alongsideLoads: string,
): string {
  const each = (body: string) => repeated('part', ['BLOCKS', tiling.blocks], tiling.unrolled, body);
  const fetched = (k0: string) =>
    loads.map(({ place, fetch }, l) => each(`${place}${fetch(k0)}\n      next${l}[part] = value;`)).join('\n    ');
  const stored = loads.map(({ place, store }, l) => each(`${place}${store(`next${l}[part]`)}`)).join('\n    ');
  return `{
    var next0 : array<vec4<f32>, BLOCKS>;
    var next1 : array<vec4<f32>, BLOCKS>;
    ${fetched('0')}
    for (var k0 = 0; k0 < ${inner}; k0 += TK) {
    ${stored}${alongsideLoads}
    workgroupBarrier();
    ${fetched('k0 + TK')}
    ${steps}
    workgroupBarrier();
    }
  }`;
}

/** The tile and how its loops are written (LowRankProductShape's `blocks`, `unrolled` and `prefetch`). */
export type ProductTiling = Pick<LowRankProductShape, 'blocks' | 'unrolled' | 'prefetch'>;

const COMPONENTS = ['x', 'y', 'z', 'w'];

/**
 * One inner index kk of the tile's product: the invocation's vec4s of x′ and W′ from workgroup memory, then its
 * 4·B² vec4 multiply-adds into `into`, in the order p, q, component either way.
 */
function innerStep({ blocks, unrolled }: ProductTiling, into: string, leftTile = 'aTile'): string {
  if (unrolled !== true)
    return `
      var a : array<vec4<f32>, BLOCKS>;
      var b : array<vec4<f32>, BLOCKS>;
      for (var p = 0; p < BLOCKS; p++) {
        a[p] = ${leftTile}[kk * GROUPS + ty + p * 16];
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
      }`;
  const lines = [];
  for (let p = 0; p < blocks; p++) lines.push(`let a${p} = ${leftTile}[kk * GROUPS + ty + ${p * 16}];`);
  for (let q = 0; q < blocks; q++) lines.push(`let b${q} = bTile[kk * GROUPS + tx + ${q * 16}];`);
  for (let p = 0; p < blocks; p++)
    for (let q = 0; q < blocks; q++)
      COMPONENTS.forEach((component, c) =>
        lines.push(`${into}[${(p * blocks + q) * 4 + c}] += a${p}.${component} * b${q};`),
      );
  return lines.map((line) => `\n      ${line}`).join('');
}

/**
 * `body` for each `name` = 0, 1, …, count − 1 (`count` a WGSL constant's name and its value): a loop, or unrolled, a
 * block per value in which `name` is a constant.
 */
function repeated(name: string, count: readonly [string, number], unrolled: boolean | undefined, body: string): string {
  if (unrolled !== true) return `for (var ${name} = 0; ${name} < ${count[0]}; ${name}++) {${body}\n      }`;
  return Array.from({ length: count[1] }, (_, value) => `{\n        const ${name} = ${value};${body}\n      }`).join(
    '\n      ',
  );
}

/** WGSL run beside a product's inner steps: more loads into workgroup memory, and work for each inner index kk. */
interface Alongside {
  readonly loads: string;
  readonly step: string;
}

/**
 * Visits an invocation's outputs inside the matrix: row i, column j, accumulator acc[block][r]. Loops either way: the
 * visits run once a tile, and written out they made shaders lavapipe's compiler took minutes over.
 */
const eachOutput = (body: string) => `for (var p = 0; p < BLOCKS; p++) {
    for (var c = 0; c < 4; c++) {
      let i = i0 + p * 64 + ty * 4 + c;
      if (i < uniforms.rowCount) {
        for (var q = 0; q < BLOCKS; q++) {
          let block = (p * BLOCKS + q) * 4 + c;
          for (var r = 0; r < 4; r++) {
            let j = j0 + q * 64 + tx * 4 + r;
            if (j < columnCount) {
              ${body}
            }
          }
        }
      }
    }
  }`;

/**
 * Where a workgroup's output tile lies: its first column `j0`, and the `columnCount` and low-rank `scale` of the
 * product it belongs to — one product's, or (groupOperands' placement) one of a group's.
 */
export const SINGLE_PLACEMENT = (tile: number) => `
  let j0 = i32(workgroupId.x) * ${tile};
  let columnCount = uniforms.columnCount;
  let scale = uniforms.scale;`;

/**
 * The constants, workgroup tiles and first lines of main() that every variant shares; `declarations` go before, after
 * the dropout hash where the shader makes masks.
 */
const opening = (
  blocks: ProductBlocks,
  masks: boolean,
  declarations = '',
  placement = SINGLE_PLACEMENT(productTile(blocks)),
) => `${masks ? HASHED_KEEP_WGSL : ''}
const TK = 16;
const BLOCKS = ${blocks};
const GROUPS = ${16 * blocks};
var<workgroup> aTile : array<vec4<f32>, ${256 * blocks}>;
var<workgroup> bTile : array<vec4<f32>, ${256 * blocks}>;${declarations}

fn main() {
  let tx = i32(localIndex) % 16;
  let ty = i32(localIndex) / 16;
  let i0 = i32(workgroupId.y) * ${productTile(blocks)};${placement}
  // One set of accumulators for both products (registers are what limits a tile on a GPU).
  var acc : array<vec4<f32>, ${4 * blocks * blocks}>;`;

/** The low-rank part's factor per output, where the shape has a mask: its element of mask `name`. */
const outputMask = (shape: Pick<LowRankProductShape, 'mask'>, name = 'dropout', use: MaskUse = 'kept') =>
  shape.mask ? ` * ${maskUsed(dropoutAt(name, 'i * columnCount + j'), use)}` : '';

/** The output mask's factors on the low-rank part and on the whole sum: one of them is empty. */
const outputMasks = (shape: LowRankProductShape) => {
  const mask = outputMask(shape);
  return shape.maskedSum ? { lowRank: '', sum: mask } : { lowRank: mask, sum: '' };
};

/** Whether the shader makes masks from hashes: an output mask, or x read masked. */
export const makesMasks = (shape: LowRankProductShape) => shape.mask || shape.inputMasked !== undefined;

/** Uniform fields of the product's masks, after the variant's own: the input mask's, then the output mask's. */
export const maskUniforms = (inputMask: boolean, mask: boolean): string =>
  `${inputMask ? dropoutUniforms('inputDropout') : ''} ${mask ? dropoutUniforms('dropout') : ''}`;

/** What a product adds or applies after its products: column factors, bias and addend, where the shape has them. */
export interface LastTerms {
  readonly bias?: boolean | undefined;
  /** The bias is a group's members' biases joined: this member's starts at the WGSL value `biasStart`. */
  readonly joinedBias?: boolean | undefined;
  readonly addend: boolean;
  readonly columnFactors?: boolean | undefined;
}

/** Where a product's column factors lie: E′'s row `rank`, read by `e` (as vec4s where `vectorized`). */
export interface FactorRow {
  readonly e: Read;
  readonly rank: string;
  readonly vectorized: boolean;
}

/**
 * The value a product writes at output (i, j) from its products' sum `value`: times column j's factor where the shape
 * has column factors (at `factors`), then plus the bias and addend where it has them.
 */
export function lastTerms(shape: LastTerms, value: string, factors?: FactorRow): string {
  let scaled = value;
  if (shape.columnFactors) {
    if (factors === undefined) throw new Error('lastTerms: column factors without the row that holds them');
    const at = `${factors.rank} * columnCount + j`;
    scaled = `(${value}) * ${factors.vectorized ? `${factors.e(`(${at}) / 4`)}[j % 4]` : factors.e(at)}`;
  }
  const bias = shape.joinedBias ? ' + bias[biasStart + j]' : ' + bias[j]';
  return `${scaled}${shape.bias ? bias : ''}${shape.addend ? ' + addend[i * columnCount + j]' : ''}`;
}

/**
 * Inputs: x, w, d, e (vec4 arrays when `shape.vectorized`), then bias and addend where the shape has them, scalar
 * arrays. Uniforms: LOW_RANK_UNIFORMS, then maskUniforms' (the input mask's where x is read masked).
 */
export function lowRankProductCode(shape: LowRankProductShape): string {
  if (shape.columnFactors && shape.transposeE)
    throw new Error('lowRankProductCode: column factors need E untransposed');
  if (shape.activationGradient !== undefined && (!shape.vectorized || shape.columnFactors))
    throw new Error('lowRankProductCode: an activation gradient is read as vec4s, without column factors');
  const masks = outputMasks(shape);
  const written = lastTerms(shape, `acc[block][r]${masks.sum}`, {
    e: reads('e'),
    rank: 'uniforms.rank',
    vectorized: shape.vectorized,
  });
  const left = leftOperand(shape);
  // The low-rank part first, scaled and masked in place (or, with `maskedSum`, the sum masked as written), then the base
  // product added onto it.
  const gradient = activationGradientStore(shape.activationGradient);
  const declarations = `${left.declarations}${gradient.declarations}`;
  const at = 'i * columnCount + j';
  const store = gradient.store === undefined ? `result[${at}] = ${written};` : gradient.store(at, written);
  return `${opening(shape.blocks, makesMasks(shape), declarations)}
  ${product(shape, reads('d'), reads('e'), 'uniforms.rank', shape.transposeE, shape.vectorized, 'acc')}
  ${eachOutput(`acc[block][r] = scale * acc[block][r]${masks.lowRank};`)}
  ${product(shape, left.read, reads('w'), 'uniforms.innerCount', shape.transposeW, shape.vectorized, 'acc')}
  ${eachOutput(store)}
}
`;
}

/**
 * The product alone: its loads, the tile, whether x is stored transposed ([inner, rows]), a bias and an addend, and a
 * dropout mask on x as it is read (LowRankProductShape's `inputMasked`) or on the product (`outputMasked`, uniforms
 * `dropout…`), used as each says.
 */
export interface MatrixProductShape extends Pick<
  LowRankProductShape,
  'vectorized' | 'transposeW' | 'addend' | 'blocks' | 'unrolled' | 'prefetch' | 'gatedInput' | 'inputMasked'
> {
  readonly transposeX: boolean;
  readonly bias?: boolean;
  readonly outputMasked?: MaskUse | undefined;
}

/** Fields after tfjs's own, in this order: the product's sizes. */
export const MATRIX_PRODUCT_UNIFORMS = 'rowCount : i32, columnCount : i32, innerCount : i32,';

/**
 * y = x′·W′ (+ addend) alone (x′ = x or xᵀ), on the same tiles (tfjs-webgpu reads a transposed right operand one float
 * at a time; these tiles read either operand as vec4s either way). Inputs: x (or gate and up, with `gatedInput`; not
 * transposed then), w (vec4 arrays when `shape.vectorized`), then the addend where the shape has one (scalars).
 * Uniforms: MATRIX_PRODUCT_UNIFORMS.
 */
export function matrixProductCode(shape: MatrixProductShape): string {
  if ((shape.gatedInput || shape.inputMasked !== undefined) && shape.transposeX)
    throw new Error('matrixProductCode: a gated or masked input is not read transposed');
  const placement = `
  let j0 = i32(workgroupId.x) * ${productTile(shape.blocks)};
  let columnCount = uniforms.columnCount;`;
  const left = leftOperand(shape);
  const masked = shape.outputMasked !== undefined;
  const mask = outputMask({ mask: masked }, 'dropout', shape.outputMasked);
  const masks = masked || shape.inputMasked !== undefined;
  return `${opening(shape.blocks, masks, left.declarations, placement)}
  ${product(shape, left.read, reads('w'), 'uniforms.innerCount', shape.transposeW, shape.vectorized, 'acc', undefined, shape.transposeX)}
  ${eachOutput(`result[i * columnCount + j] = ${lastTerms(shape, `acc[block][r]${mask}`)};`)}
}
`;
}

/** The narrow product the inline variant forms beside the base product. */
export interface InlineNarrowShape {
  /** Its width, compiled in: a multiple of 4, at most INLINE_MOST_RANK. */
  readonly rank: number;
  /** N is stored [rank, inner] (so the narrow product uses Nᵀ). */
  readonly transposeN: boolean;
  /**
   * A dropout mask shaped like x (uniforms `inputDropout…`) multiplies x in the narrow product alone (dropout on a
   * LoRA layer's input).
   */
  readonly inputMask: boolean;
}

/**
 * The widest narrow product the inline variant forms: its [tile rows, rank] result is kept in aTile's workgroup memory
 * once the base product is done, and E′'s [rank, tile columns] in bTile's.
 */
export const INLINE_MOST_RANK = 16;

/** Uniform fields of the inline variant: LOW_RANK_UNIFORMS' and the narrow product's scale. */
export const INLINE_UNIFORMS = `${LOW_RANK_UNIFORMS} narrowScale : f32,`;

/**
 * Workgroup memory the inline variant takes, in bytes: the two tiles (three with a rest alongside), N′'s inner step,
 * the input mask's (made once per workgroup and element, as x's tile is loaded) and, where x is normalized, its rows'
 * sums and reciprocal RMS.
 */
export function inlineWorkgroupBytes(
  blocks: ProductBlocks,
  shape: InlineNarrowShape,
  normalized = false,
  restAlongside = false,
): number {
  const normalization = normalized ? PRODUCT_WORKGROUP + productTile(blocks) : 0;
  const tiles = (restAlongside ? 3 : 2) * 1024 * blocks;
  return 4 * (tiles + 16 * shape.rank + (shape.inputMask ? 16 * 64 * blocks : 0) + normalization);
}

/**
 * The narrow product's share of an inner step: invocation t forms t's row t % TILE_ROWS, columns SHARE·(t / TILE_ROWS)
 * onward, from the x tile in aTile (times the input mask's, where there is one) and N′'s rows in nTile.
 */
const narrowStep = (inputMask: boolean, tiling: ProductTiling, share: number) => `
      let xk = aTile[kk * GROUPS + narrowRow / 4][narrowRow % 4]${inputMask ? ' * maskTile[kk * TILE_ROWS + narrowRow]' : ''};
      ${repeated('c', ['SHARE', share], tiling.unrolled, '\n        narrow[c] += xk * nTile[kk * RANK + narrowColumn + c];')}`;

/**
 * Loads N′'s rows k0..k0+15 (of `inner`) into nTile, [16, RANK]: N stored [inner, rank], or [rank, inner] when
 * `transposed`, bound as vec4s.
 */
const narrowFactorLoad = (n: Read, inner: string, transposed: boolean) => `
    for (var e = i32(localIndex); e < TK * RANK; e += ${PRODUCT_WORKGROUP}) {
      let k = k0 + e / RANK;
      let c = e % RANK;
      var value = 0.0;
      if (k < ${inner}) {
        let at = ${transposed ? `c * ${inner} + k` : 'k * RANK + c'};
        value = ${n('at / 4')}[at % 4];
      }
      nTile[e] = value;
    }`;

/** How the inline variant reaches a product's operands and outputs: one product's bindings, or a group's. */
export interface InlineOperands {
  readonly w: Read;
  readonly n: Read;
  readonly e: Read;
  /** The input mask's elements at an element index of x and the three after it, a vec4. */
  readonly inputMask: Read;
  readonly storeDown: (at: string, value: string) => string;
  readonly storeResult: (at: string, value: string) => string;
  /** Module-scope WGSL the accessors need. */
  readonly declarations: string;
  /** Where the workgroup's tile lies (the opening's placement). */
  readonly placement: string;
}

export const singleOperands = (tile: number): InlineOperands => ({
  w: reads('w'),
  n: reads('n'),
  e: reads('e'),
  inputMask: (at) => dropoutAt4('inputDropout', at),
  storeDown: (at, value) => `down[${at}] = ${value};`,
  storeResult: (at, value) => `result[${at}] = ${value};`,
  declarations: '',
  placement: SINGLE_PLACEMENT(tile),
});

/** The name a group's member `layer` binds an operand by: the first member's plain (`w`), the others' numbered. */
export const memberName = (name: string, layer: number): string => (layer === 0 ? name : `${name}${layer}`);

/**
 * WGSL giving the input mask's fields read by `dropoutAt4('inputDropout', …, '')` member `layer`'s values: its own key,
 * threshold and scale, each assigned (`declare` '') or declared (`var `, `let `).
 */
const memberMaskFields = (layer: number, declare: string): string =>
  ['Key', 'Threshold', 'Scale']
    .map((field) => `\n  ${declare}inputDropout${field} = uniforms.${memberName('inputDropout', layer)}${field};`)
    .join('');

/**
 * Uniform fields of the group variant, after INLINE_UNIFORMS: each member's but the first's, then, with input masks,
 * every member's mask.
 */
export function groupUniforms(members: number, inputMask: boolean, biased = false): string {
  const fields = [];
  for (let l = 1; l < members; l++) fields.push(`columnCount${l} : i32, firstTile${l} : i32, scale${l} : f32,`);
  if (inputMask) for (let l = 0; l < members; l++) fields.push(dropoutUniforms(memberName('inputDropout', l)));
  if (biased) for (let l = 1; l < members; l++) fields.push(`biasStart${l} : i32,`);
  return fields.join(' ');
}

/**
 * Where a group's members lie along the workgroups' x, for `tile`-wide column tiles side by side (groupOperands): each
 * member's first workgroup (its uniform firstTile_l) and the workgroups of all of them.
 */
export function membersSideBySide(
  columns: readonly number[],
  tile: number,
): { firstTiles: number[]; columnTiles: number } {
  const firstTiles: number[] = [];
  let columnTiles = 0;
  for (const width of columns) {
    firstTiles.push(columnTiles);
    columnTiles += Math.ceil(width / tile);
  }
  return { firstTiles, columnTiles };
}

/**
 * WGSL accessors of a group's member bindings, by the private `layer` (the member, chosen once per workgroup): WGSL
 * cannot index bindings, so each read or write is a switch on it — the same for the whole workgroup, so it costs no
 * divergence, and no barrier depends on it. `reader(name, type)` declares `<name>At(at)`, reading member l's `name`
 * (memberName); `writer(fn, binding)` declares `fn(at, value)`, writing its `binding`.
 */
export function memberSwitch(members: number): {
  declaration: string;
  reader: (name: string, type: string) => string;
  writer: (fn: string, binding: string) => string;
} {
  const cases = (body: (layer: number) => string) => {
    const lines = [];
    for (let l = 1; l < members; l++) lines.push(`    case ${l}: { ${body(l)} }`);
    return `  switch layer {\n${lines.join('\n')}\n    default: { ${body(0)} }\n  }`;
  };
  return {
    declaration: 'var<private> layer : i32;',
    reader: (name, type) =>
      `fn ${name}At(at : i32) -> ${type} {\n${cases((l) => `return ${memberName(name, l)}[at];`)}\n}`,
    writer: (fn, binding) =>
      `fn ${fn}(at : i32, value : f32) {\n${cases((l) => `${memberName(binding, l)}[at] = value;`)}\n}`,
  };
}

/**
 * A group's operands: the members' output tiles side by side along x (member l's from uniform firstTile_l on), each
 * workgroup's member chosen once from its workgroup index, and every read or write of a member's binding a switch on
 * it (memberSwitch). `read`: the operands the members bind (plain products bind W alone).
 */
export function groupOperands(
  tile: number,
  members: number,
  inputMask: boolean,
  writesDown: boolean,
  read: readonly ('w' | 'n' | 'e')[] = ['w', 'n', 'e'],
): InlineOperands {
  const { declaration, reader, writer } = memberSwitch(members);
  const maskChoice = (l: number, declare = '') => (inputMask ? memberMaskFields(l, declare) : '');
  const choices = [];
  for (let l = 1; l < members; l++)
    choices.push(`
  if (i32(workgroupId.x) >= uniforms.firstTile${l}) {
    layer = ${l};
    firstTile = uniforms.firstTile${l};
    columnCount = uniforms.columnCount${l};
    scale = uniforms.scale${l};${maskChoice(l)}
  }`);
  const call =
    (name: string): Read =>
    (at) =>
      `${name}At(${at})`;
  return {
    w: call('w'),
    n: call('n'),
    e: call('e'),
    inputMask: (at) => dropoutAt4('inputDropout', at, ''),
    storeDown: (at, value) => `storeDown(${at}, ${value});`,
    storeResult: (at, value) => `storeResult(${at}, ${value});`,
    declarations: `
${declaration}
${read.map((name) => reader(name, 'vec4<f32>')).join('\n')}
${writesDown ? writer('storeDown', 'down') : ''}
${writer('storeResult', 'result')}`,
    placement: `
  layer = 0;
  var firstTile = 0;
  var columnCount = uniforms.columnCount;
  var scale = uniforms.scale;${maskChoice(0, 'var ')}${choices.join('')}
  let j0 = (i32(workgroupId.x) - firstTile) * ${tile};`,
  };
}

/**
 * y = x·W′ + bias + scale · mask ⊙ (t·E′) with t = narrowScale · (inputMask ⊙ x)·N′ formed in the same pass and
 * written to the second output `down` — a LoRA layer's output (N′ = A, E′ = B: t is x·A) or its input gradient (x = dy,
 * W′ = Wᵀ, N′ = Bᵀ, E′ = Aᵀ: t is dDown = s·dy·Bᵀ). Without it, t takes a dispatch of its own before the product
 * (narrow-product.ts); here each workgroup forms t for its tile's rows from the x tile it already holds, as the base
 * product's inner steps run — the tiles of one row of tiles each form the same t, rank / tile width more multiply-adds
 * than the base product's (an eighth at r = 8 and 64 × 64 tiles) — and the first column of tiles writes it. The
 * low-rank part is added last, from workgroup memory. Vectorized shapes only (inner, columns and rank multiples of 4).
 * Inputs: x (or gate and up, with `gatedInput`), w, n, e (vec4 arrays), `down` (written), then bias and addend where
 * the shape has them. Uniforms: INLINE_UNIFORMS, then maskUniforms'.
 *
 * With `members` > 1, the products of a group of layers that read the same x (a decoder's q, k and v), each with its
 * own W, N, E, width, scale and input mask, in one dispatch, their output tiles side by side along x
 * (membersSideBySide): the first member's output is `result` and its operands are bound as above; member l's are w_l,
 * n_l, e_l, down_l and result_l (written). Each member's work is written out with its own bindings, in a branch a
 * workgroup takes once: on the H200 the group read its members' operands through a switch at every load instead
 * (memberSwitch, which the few-rows shader's stores still use) and ran at 2.2 TFLOP/s, where one layer's inline product
 * ran at 14.8. Uniforms: INLINE_UNIFORMS, then groupUniforms'. Each output is the same sums in the same order as the
 * member's own dispatch gives. No output mask or addend. With `bias`, the members' biases are joined in one binding
 * `bias` (member l's from uniform biasStart_l on) and their t's written into one `down` (member l's from l · rows ·
 * rank on), bound after the members' operands: a group of three with biases then binds 15 buffers where it would bind
 * 19 (an encoder's query, key and value; not normalized). With `normalizedInput` (one layer or a group), x is
 * RMS-normalized as it is read: `normWeight` is bound after the operands, `normEps` is the last uniform, and no `down`
 * is bound or written.
 */
export function inlineLowRankProductCode(shape: LowRankProductShape, narrow: InlineNarrowShape, members = 1): string {
  if (shape.columnFactors && shape.transposeE)
    throw new Error('inlineLowRankProductCode: column factors need E untransposed');
  if (shape.inputMasked !== undefined && narrow.inputMask)
    throw new Error('inlineLowRankProductCode: x is masked once, as it is read or in t');
  if (shape.gatedInput && members > 1) throw new Error('inlineLowRankProductCode: a group does not read a gated input');
  if (shape.activationGradient !== undefined && (members > 1 || shape.normalizedInput || shape.columnFactors))
    throw new Error('inlineLowRankProductCode: an activation gradient is one layer’s input gradient');
  if (shape.geluInput && members > 1) throw new Error('inlineLowRankProductCode: a group does not read GELU of x');
  const rest = restAlongsideCode(shape, members);
  const masks = outputMasks(shape);
  const blocks = shape.blocks;
  const tileRows = productTile(blocks);
  const writesDown = !shape.normalizedInput;
  // The narrow product's values each invocation forms.
  const share = (narrow.rank * tileRows) / PRODUCT_WORKGROUP;
  // A group's biases are joined in one binding (memberPlacement's biasStart), and so are its members' t's.
  const joined = members > 1 && shape.bias;
  const gradient = activationGradientStore(shape.activationGradient);
  const terms = { ...shape, joinedBias: joined };
  const left = leftOperand(shape, members === 1 ? 'uniforms.' : '');
  // Loads N′'s rows k0..k0+15, and the input mask's columns k0..k0+15 of the tile's rows as x's are loaded.
  const loads = (operands: InlineOperands) =>
    `${narrowFactorLoad(operands.n, 'uniforms.innerCount', narrow.transposeN)}${
      narrow.inputMask
        ? `
    for (var part = 0; part < BLOCKS; part++) {
      let line = i32(localIndex) / 4 + part * 64;
      let k = k0 + (i32(localIndex) % 4) * 4;
      var value = vec4<f32>(0.0);
      if (k < uniforms.innerCount && i0 + line < uniforms.rowCount) {
        value = ${operands.inputMask('(i0 + line) * uniforms.innerCount + k')};
      }
      for (var c = 0; c < 4; c++) {
        maskTile[(k - k0 + c) * TILE_ROWS + line] = value[c];
      }
    }`
        : ''
    }`;
  // One product's work after its tile is placed: the base and narrow products (and a rest's), t, then the low-rank
  // part.
  const body = (operands: InlineOperands) => `
  var narrow : array<f32, SHARE>;${rest.accumulators}
  ${product(shape, left.read, operands.w, 'uniforms.innerCount', shape.transposeW, true, 'acc', { loads: `${loads(operands)}${rest.loads}`, step: `${narrowStep(narrow.inputMask, shape, share)}${rest.step}` })}
  // t's values: into aTile (free now) as [TILE_ROWS, RANK], and from the first column of tiles into down.
  ${repeated(
    'c',
    ['SHARE', share],
    shape.unrolled,
    `
    let value = uniforms.narrowScale * narrow[c];
    let at = narrowRow * RANK + narrowColumn + c;
    aTile[at / 4][at % 4] = value;${
      writesDown
        ? `
    if (j0 == 0 && i0 + narrowRow < uniforms.rowCount) {
      ${operands.storeDown('(i0 + narrowRow) * RANK + narrowColumn + c', 'value')}
    }`
        : ''
    }`,
  )}
  // E′'s RANK rows (its inner indices) into bTile.
  let k0 = 0;
  ${directLoad(rightLoad(operands.e, 'uniforms.rank', shape.transposeE, true))}
  workgroupBarrier();
  ${eachOutput(`var low = 0.0;
              let line = i - i0;
              let column = j - j0;
              for (var h = 0; h < RANK; h++) {
                let at = line * RANK + h;
                low += aTile[at / 4][at % 4] * bTile[h * GROUPS + column / 4][column % 4];
              }
              ${rest.stores('i * columnCount + j', lastTerms(rest.terms(terms), `(acc[block][r] + scale * low${masks.lowRank})${masks.sum}`, { e: operands.e, rank: 'RANK', vectorized: true }), gradient.store ?? operands.storeResult)}`)}`;
  const declarations = `
const RANK = ${narrow.rank};
const TILE_ROWS = ${tileRows};
const SHARE = ${share};
var<workgroup> nTile : array<f32, ${16 * narrow.rank}>;${rest.declarations}${
    narrow.inputMask ? `\nvar<workgroup> maskTile : array<f32, ${16 * tileRows}>;` : ''
  }${members === 1 ? '' : '\nvar<workgroup> groupMember : i32;'}${left.declarations}${gradient.declarations}`;
  const shared = `
  let narrowRow = i32(localIndex) % TILE_ROWS;
  let narrowColumn = (i32(localIndex) / TILE_ROWS) * SHARE;${shape.normalizedInput ? normalizationPrologue : ''}`;
  const makes = makesMasks(shape) || narrow.inputMask;
  if (members === 1)
    return `${opening(blocks, makes, declarations)}${shared}${body(singleOperands(tileRows))}
}
`;
  // A group: each member's work written out with its own bindings, its branch taken once per workgroup.
  const memberMasks = narrow.inputMask || shape.inputMasked !== undefined;
  return `${opening(blocks, makes, declarations, memberChoice(members))}${shared}
  ${memberBranches(members, (l) => `${memberPlacement(l, tileRows, memberMasks, joined)}${body(memberOperands(l, joined))}`)}
}
`;
}

/**
 * The WGSL a rest alongside adds to the inline variant (LowRankProductShape's `restAlongside`), nothing where the shape
 * has none: restTile and the accumulators restAcc, the rest's left operand loaded beside x's and its inner step (in a
 * block of its own, its names apart from the main step's), the value's terms (`terms`) and what each output stores
 * (`stores`, from the value of the products' sum). `input`: the rest x_r·W + bias + addend is stored to restOutput and
 * the dropped part's value takes neither; with `magnitudeScaled` the output is the rest plus the dropped part times
 * magnitude / norms, as McevalMagnitudeScale writes it, and the dropped part goes to droppedOutput. `gradient`: the
 * masked sum plus (1 − m) ⊙ the rest's product and the addend, as McevalMatrixProduct writes the rest and the inline
 * product adds it.
 */
function restAlongsideCode(shape: LowRankProductShape, members: number) {
  const kind = shape.restAlongside;
  type Store = (at: string, value: string) => string;
  const none = {
    declarations: '',
    accumulators: '',
    loads: '',
    step: '',
    terms: (terms: LastTerms) => terms,
    stores: (at: string, value: string, store: Store) => store(at, value),
  };
  if (shape.magnitudeScaled === true && kind !== 'input')
    throw new Error('inlineLowRankProductCode: a magnitude scales an output with its rest alongside');
  if (kind === undefined) return none;
  if (members > 1 || shape.normalizedInput || shape.columnFactors)
    throw new Error('inlineLowRankProductCode: a rest alongside is one layer’s, x not normalized');
  if (kind === 'input' && shape.inputMasked !== 'kept')
    throw new Error('inlineLowRankProductCode: a rest alongside an output needs x read dropped out');
  if (kind === 'gradient' && !(shape.maskedSum === true && shape.mask))
    throw new Error('inlineLowRankProductCode: a rest alongside an input gradient needs its sum masked');
  // The rest's x is the dropped part's read through 1 − m: as stored, or formed from an activation's inputs where it
  // is read (a down projection's SwiGLU gating, whose input gradient then writes the activation's input gradients).
  const read = kind === 'input' ? leftOperand({ ...shape, inputMasked: 'rest' }).read : reads('restInput');
  const common = {
    ...none,
    declarations: `\nvar<workgroup> restTile : array<vec4<f32>, ${256 * shape.blocks}>;`,
    accumulators: `\n  var restAcc : array<vec4<f32>, ${4 * shape.blocks * shape.blocks}>;`,
    loads: directLoad(innerFastestLoad(read, 'uniforms.innerCount', REST_LEFT, true)),
    step: `\n      {${innerStep(shape, 'restAcc', 'restTile')}\n      }`,
  };
  if (kind === 'input') {
    const restValue = lastTerms({ bias: shape.bias, addend: shape.addend }, 'restAcc[block][r]');
    return {
      ...common,
      terms: (terms: LastTerms) => ({ ...terms, bias: false, addend: false }),
      stores: (at: string, value: string, store: Store) =>
        shape.magnitudeScaled === true
          ? `let restValue = ${restValue};
              let dropped = ${value};
              droppedOutput[${at}] = dropped;
              ${store(at, 'restValue + dropped * (magnitude[j] / norms[j])')}`
          : `restOutput[${at}] = ${restValue};
              ${store(at, value)}`,
    };
  }
  const restValue = lastTerms({ addend: shape.addend }, `restAcc[block][r]${outputMask(shape, 'dropout', 'rest')}`);
  return {
    ...common,
    terms: (terms: LastTerms) => ({ ...terms, addend: false }),
    stores: (at: string, value: string, store: Store) => store(at, `${value} + (${restValue})`),
  };
}

/**
 * Stores the gating's gradients for output element `at` whose gradient of x is `value`: McevalSwiGluGrad's
 * expressions, with dy its value.
 */
const gatingGradientStore = (at: string, value: string) => `let element = ${at};
              let dx = ${value};
              let g = gradientGate[element / 4][element % 4];
              let s = gradientSigmoid(g);
              result[element] = dx * gradientUp[element / 4][element % 4] * (s * (1.0 + g * (1.0 - s)));
              dUp[element] = dx * (g * s);`;

/** Stores GELU's gradient for output element `at` whose gradient of x is `value`. */
const geluGradientStore = (at: string, value: string) => `let element = ${at};
              let dx = ${value};
              let v = gradientInput[element / 4][element % 4];
              ${geluGradientLines('result[element]', 'dx', 'v', 'gradientErf')}`;

/**
 * How a product writing `activation`'s input gradients (LowRankProductShape's `activationGradient`) stores output (i,
 * j)'s value, with the WGSL functions that takes; no store where it writes the value as it is.
 */
function activationGradientStore(activation: Activation | undefined): {
  store?: (at: string, value: string) => string;
  declarations: string;
} {
  if (activation === 'swiglu')
    return { store: gatingGradientStore, declarations: sigmoidCode('gradientSigmoid', 'f32') };
  if (activation === 'gelu') return { store: geluGradientStore, declarations: erfCode('gradientErf', 'f32') };
  return { declarations: '' };
}

/**
 * The group variant's placement: the workgroup's member, by its first tile, made uniform through workgroup memory —
 * tfjs's `workgroupId` is a private variable, which WGSL's uniformity analysis takes for non-uniform, and the members'
 * branches hold barriers.
 */
const memberChoice = (members: number) => {
  const steps = [];
  for (let l = 1; l < members; l++)
    steps.push(`\n    if (i32(workgroupId.x) >= uniforms.firstTile${l}) { member = ${l}; }`);
  return `
  if (localIndex == 0u) {
    var member = 0;${steps.join('')}
    groupMember = member;
  }
  let member = workgroupUniformLoad(&groupMember);`;
};

/** `if (member == 0) { … } else if …`: one branch per member, member l's WGSL `branch(l)`. */
const memberBranches = (members: number, branch: (l: number) => string) =>
  Array.from({ length: members }, (_, l) => `if (member == ${l}) {${branch(l)}\n  }`).join(' else ');

/**
 * Member l's tile placement: its first tile, width and scale, its input mask's fields where it has one, and where its
 * bias starts in the joined biases (`joined`).
 */
function memberPlacement(l: number, tile: number, inputMask: boolean, joined: boolean): string {
  const field = (name: string) => `uniforms.${memberName(name, l)}`;
  const mask = inputMask ? memberMaskFields(l, 'let ') : '';
  const bias = joined ? `\n  let biasStart = ${l === 0 ? '0' : field('biasStart')};` : '';
  return `
  let firstTile = ${l === 0 ? '0' : field('firstTile')};
  let columnCount = ${field('columnCount')};
  let scale = ${field('scale')};${mask}${bias}
  let j0 = (i32(workgroupId.x) - firstTile) * ${tile};`;
}

/**
 * Member l's bindings, read and written directly (memberName): its branch of a group. With `joined` t's, its t is
 * written into the one `down` from l · rows · rank on.
 */
const memberOperands = (l: number, joined: boolean): InlineOperands => ({
  w: reads(memberName('w', l)),
  n: reads(memberName('n', l)),
  e: reads(memberName('e', l)),
  inputMask: (at) => dropoutAt4('inputDropout', at, ''),
  storeDown: (at, value) =>
    joined
      ? `down[${l} * uniforms.rowCount * RANK + ${at}] = ${value};`
      : `${memberName('down', l)}[${at}] = ${value};`,
  storeResult: (at, value) => `${memberName('result', l)}[${at}] = ${value};`,
  declarations: '',
  placement: '',
});

/**
 * Uniform fields of the gradient group, after INLINE_UNIFORMS: each member's but the first's inner size and t's scale,
 * then, with masks, every member's mask.
 */
export function gradientGroupUniforms(members: number, masked: boolean): string {
  const fields = [];
  for (let l = 1; l < members; l++) fields.push(`innerCount${l} : i32, narrowScale${l} : f32,`);
  if (masked) for (let l = 0; l < members; l++) fields.push(dropoutUniforms(memberName('dropout', l)));
  return fields.join(' ');
}

/** Workgroup memory the gradient group takes, in bytes: the inline variant's and every member's t for the tile. */
export function gradientGroupWorkgroupBytes(blocks: ProductBlocks, rank: number, members: number): number {
  return (
    inlineWorkgroupBytes(blocks, { rank, transposeN: true, inputMask: false }) +
    4 * members * productTile(blocks) * rank
  );
}

/**
 * The input gradient of a group of layers that read the same x, in one dispatch: dx = Σ_l dy_l·W_lᵀ + mask_l ⊙
 * (t_l·A′_lᵀ) with t_l = narrowScale_l · dy_l·B_lᵀ formed in the same pass and written to down_l — what the members'
 * inline products (inlineLowRankProductCode, x = dy_l) give chained through their addends, without writing the partial
 * sums. The members' inner sizes differ (each its own width), so their products run one after the other into the same
 * accumulators, each member's t kept in workgroup memory (tTile) until the low-rank parts are added last, member by
 * member with its own A′ in bTile. The sums run in another order than the chain's. Member l binds x_l (dy_l), w_l, n_l
 * (B_l), e_l (A′_l) and down_l (written), the first member's names plain; where the shape has masks, mask_l is made
 * from uniforms dropout_l… (its layer's dropout, shaped like dx).
 */
export function inlineGradientGroupCode(shape: LowRankProductShape, rank: number, members: number): string {
  const blocks = shape.blocks;
  const tileRows = productTile(blocks);
  const name = memberName;
  const inner = (l: number) => (l === 0 ? 'uniforms.innerCount' : `uniforms.innerCount${l}`);
  const narrowScale = (l: number) => (l === 0 ? 'uniforms.narrowScale' : `uniforms.narrowScale${l}`);
  const share = (rank * tileRows) / PRODUCT_WORKGROUP;
  const products = [];
  const lowRankParts = [];
  for (let l = 0; l < members; l++) {
    // N′ = B_lᵀ: B_l is stored [rank, inner_l].
    const loads = narrowFactorLoad(reads(name('n', l)), inner(l), true);
    products.push(`
  ${repeated('c', ['SHARE', share], shape.unrolled, '\n    narrow[c] = 0.0;')}
  ${product(shape, reads(name('x', l)), reads(name('w', l)), inner(l), shape.transposeW, true, 'acc', { loads, step: narrowStep(false, shape, share) })}
  ${repeated(
    'c',
    ['SHARE', share],
    shape.unrolled,
    `
    let value = ${narrowScale(l)} * narrow[c];
    let at = narrowRow * RANK + narrowColumn + c;
    tTile[${l * tileRows * rank} + at] = value;
    if (j0 == 0 && i0 + narrowRow < uniforms.rowCount) {
      ${name('down', l)}[(i0 + narrowRow) * RANK + narrowColumn + c] = value;
    }`,
  )}`);
    const mask = outputMask(shape, name('dropout', l));
    lowRankParts.push(`
  {
    // A′_l's RANK rows (its inner indices) into bTile, once every invocation is done with the tiles before.
    workgroupBarrier();
    let k0 = 0;
    ${directLoad(rightLoad(reads(name('e', l)), 'uniforms.rank', shape.transposeE, true))}
    workgroupBarrier();
    ${eachOutput(`var low = 0.0;
              let line = i - i0;
              let column = j - j0;
              for (var h = 0; h < RANK; h++) {
                low += tTile[${l * tileRows * rank} + line * RANK + h] * bTile[h * GROUPS + column / 4][column % 4];
              }
              acc[block][r] += low${mask};`)}
  }`);
  }
  const declarations = `
const RANK = ${rank};
const TILE_ROWS = ${tileRows};
const SHARE = ${share};
var<workgroup> nTile : array<f32, ${16 * rank}>;
var<workgroup> tTile : array<f32, ${members * tileRows * rank}>;`;
  return `${opening(blocks, shape.mask, declarations)}
  let narrowRow = i32(localIndex) % TILE_ROWS;
  let narrowColumn = (i32(localIndex) / TILE_ROWS) * SHARE;
  var narrow : array<f32, SHARE>;${products.join('')}${lowRankParts.join('')}
  ${eachOutput('result[i * columnCount + j] = acc[block][r];')}
}
`;
}
