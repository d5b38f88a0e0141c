/**
 * WGSL for the weight gradients of low-rank layers that read one input x: per layer, dA = (m ⊙ x)ᵀ·dDown [in, r] and
 * dB = s·downᵀ·dy [r, out], products over the step's tokens whose outputs are narrow, so a tiling over the output alone
 * leaves a GPU a few workgroups, each walking every token (tfjs-webgpu's 32 × 32 tiles: 24 workgroups for a [768, 8]
 * gradient). Here the tokens are split too. The first pass gives each workgroup an output tile and a chunk of tokens,
 * and writes that chunk's partial sums. The second adds each output's partials in chunk order, so the result does not
 * depend on which workgroup finished first. tfjs's own split-K adds atomically, in whatever order the GPU runs its
 * workgroups. Every product of the layers shares each pass (product 2k is layer k's dA, 2k + 1 its dB): two dispatches
 * for a decoder layer's q, k and v together, where tfjs's products take one each and the dropout mask's multiplication
 * another. A layer's dropout mask is made from its hash as x is read (hashed-dropout-wgsl.ts). A first pass may carry
 * an earlier call's second pass in workgroups after its own (`carriedSumsCode`; weight-gradients.ts).
 *
 * A workgroup of 64 invocations covers a tile of blocksM × blocksN blocks of 4 × 4 outputs. Each invocation reads a
 * vec4 of p's row and one of q's per token and does 16 multiply-adds, without workgroup memory or barriers. The
 * narrow side gets the fewest blocks that cover it (at most 8), the wide side the rest, and consecutive invocations
 * take consecutive blocks along m.
 */
import { HASHED_KEEP_WGSL, dropoutAt4, dropoutUniforms } from './hashed-dropout-wgsl.js';
import { floatUniform, intUniform, type ShaderUniform } from './shader.js';
import { keptPerNumber } from '../../kept-per-number.js';
import { activationReads, leftOperand, type Activation } from './low-rank-product-wgsl.js';

/** x read as `activation` of its inputs, as vec4s. */
const activatedX = (activation: Activation) => leftOperand({ ...activationReads(activation), vectorized: true });

/** Invocations per workgroup of the first pass. */
export const SPLIT_WORKGROUP = 64;
/** Invocations per workgroup of the second pass (one output each). */
export const SUM_WORKGROUP = 256;
/**
 * Workgroups the first pass aims for per product: enough for every multiprocessor of a large GPU (an H200 has 132) to
 * hold several, so that memory latency is hidden.
 */
const TARGET_WORKGROUPS = 512;
/**
 * The fewest tokens a chunk takes. Below this, the partial sums written and read again outweigh the operands read.
 */
const MIN_CHUNK = 32;

/** How one product pᵀ·q (p [tokens, m], q [tokens, n]) is cut into tiles and chunks. */
export interface ProductPlan {
  readonly m: number;
  readonly n: number;
  /** 4 × 4 blocks along m per tile; SPLIT_WORKGROUP / blocksM along n. */
  readonly blocksM: number;
  readonly tilesM: number;
  readonly tilesN: number;
  /** Chunks of tokens, and the tokens per chunk (the last may be shorter). */
  readonly splits: number;
  readonly chunk: number;
  /** First-pass workgroups: tilesM · tilesN · splits. */
  readonly workgroups: number;
}

const nextPowerOfTwo = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

export function productPlan(m: number, n: number, tokens: number): ProductPlan {
  const narrowBlocks = Math.min(8, nextPowerOfTwo(Math.ceil(Math.min(m, n) / 4)));
  const blocksM = m <= n ? narrowBlocks : SPLIT_WORKGROUP / narrowBlocks;
  const blocksN = SPLIT_WORKGROUP / blocksM;
  const tilesM = Math.ceil(m / (4 * blocksM));
  const tilesN = Math.ceil(n / (4 * blocksN));
  const tiles = tilesM * tilesN;
  const wanted = Math.min(Math.ceil(TARGET_WORKGROUPS / tiles), Math.ceil(tokens / MIN_CHUNK));
  const chunk = Math.max(1, Math.ceil(tokens / Math.max(1, wanted)));
  const splits = Math.max(1, Math.ceil(tokens / chunk));
  return { m, n, blocksM, tilesM, tilesN, splits, chunk, workgroups: tiles * splits };
}

/** Per product s, the uniform fields of both passes: its plan, where its partials, workgroups and outputs start. */
const PRODUCT_FIELDS = ['m', 'n', 'blocksM', 'tilesM', 'splits', 'chunk', 'workgroups', 'offset', 'start', 'outStart'];

/** Each product's fields, their names after `prefix`: `${prefix}m0 : i32, …`. */
const productFields = (products: number, prefix: string) =>
  Array.from({ length: products }, (_, s) =>
    [...PRODUCT_FIELDS.map((field) => `${prefix}${field}${s} : i32,`), `${prefix}scale${s} : f32,`].join(' '),
  );

/** The uniforms of both passes (after tfjs's own) for `products` products: each one's fields, then the tokens. */
export const weightGradientUniforms = keptPerNumber((products) =>
  [...productFields(products, ''), 'tokens : i32,'].join('\n'),
);

/** The second pass's uniforms, run alone: the products' fields. */
export const chunkSumUniforms = keptPerNumber((products) => productFields(products, '').join('\n'));

/** The prefix of a carried second pass's uniform fields. */
const CARRIED = 'carried_';

/**
 * The uniforms, after the first pass's own, of the second pass of an earlier call that it runs too (`carriedSumsCode`):
 * that call's products' fields, named `carried_m0`, ….
 */
export const carriedSumUniforms = keptPerNumber((products) => productFields(products, CARRIED).join('\n'));

/**
 * The first pass's uniforms after weightGradientUniforms': the dropout mask of each layer k that `masked` says has one
 * (`dropout${k}`; values by dropoutUniformValues, in layer order). The second pass reads no mask.
 */
export const weightGradientMaskUniforms = (masked: readonly boolean[]): string =>
  masked.flatMap((mask, k) => (mask ? [dropoutUniforms(`dropout${k}`)] : [])).join('\n');

/**
 * The uniform values for `plans` (product 2k layer k's dA, 2k + 1 its dB) in weightGradientUniforms' order: dA is
 * multiplied by 1 (exactly itself), dB by its layer's `dyScales[k]`.
 */
export function weightGradientUniformValues(
  plans: readonly ProductPlan[],
  dyScales: readonly number[],
  tokens: number,
): ShaderUniform[] {
  return [...productUniformValues(plans, dyScales), intUniform(tokens)];
}

/** The products' fields alone (weightGradientUniformValues without the tokens): a carried second pass's uniforms. */
export function productUniformValues(plans: readonly ProductPlan[], dyScales: readonly number[]): ShaderUniform[] {
  let offset = 0;
  let start = 0;
  let outStart = 0;
  return plans.flatMap((plan, s) => {
    const integers = [plan.m, plan.n, plan.blocksM, plan.tilesM, plan.splits, plan.chunk, plan.workgroups];
    const fields = [...integers, offset, start, outStart].map(intUniform);
    offset += plan.splits * plan.m * plan.n;
    start += plan.workgroups;
    outStart += plan.m * plan.n;
    const scale = s % 2 === 0 ? 1 : dyScales[(s - 1) / 2]!;
    return [...fields, floatUniform(scale)];
  });
}

/** The partial sums the products write: the first pass's output size. */
export const partialCount = (plans: readonly ProductPlan[]) =>
  plans.reduce((sum, plan) => sum + plan.splits * plan.m * plan.n, 0);

/** A product's operands: p [tokens, m], q [tokens, n], and the name of a dropout mask shaped like p (or none). */
interface Operands {
  readonly p: string;
  readonly q: string;
  readonly mask?: string;
}

/** A vec4 of `source`'s row k at columns `at`..`at`+3 of `width`, zero beyond it (vectorized: one vec4 load). */
function rowLoad(source: string, at: string, width: string, vectorized: boolean): string {
  if (vectorized) return `${source}[(k * ${width} + ${at}) / 4]`;
  return `rowOf${source}(k, ${at}, ${width})`;
}

function scalarRowReader(source: string): string {
  return `
fn rowOf${source}(k : i32, at : i32, width : i32) -> vec4<f32> {
  var value = vec4<f32>(0.0);
  for (var c = 0; c < 4; c++) {
    if (at + c < width) {
      value[c] = ${source}[k * width + at + c];
    }
  }
  return value;
}`;
}

/**
 * The first pass's share of product `s`: workgroup g's tile and chunk, written to its place among the partials; with
 * `whole` (every product one chunk) times scale_s, the partials being the gradients themselves.
 */
function productPart(
  s: number,
  operands: Operands,
  vectorized: boolean,
  whole: boolean,
  activation: Activation | undefined,
): string {
  const u = (field: string) => `uniforms.${field}${s}`;
  // x formed as it is read, where the layers read an activation of their input (vec4 loads only).
  const pRow =
    activation !== undefined && operands.p === 'x'
      ? activatedX(activation).read('(k * m + i) / 4')
      : rowLoad(operands.p, 'i', 'm', vectorized);
  // The mask's elements of token k, columns i … i + 3 (those beyond m multiply p's zeros).
  const maskRow = operands.mask === undefined ? '' : ` * ${dropoutAt4(operands.mask, 'k * m + i')}`;
  return `
fn part${s}(g : i32) {
  let tile = g / ${u('splits')};
  let split = g % ${u('splits')};
  let t = i32(localIndex);
  let m = ${u('m')};
  let n = ${u('n')};
  let i = ((tile % ${u('tilesM')}) * ${u('blocksM')} + t % ${u('blocksM')}) * 4;
  let j = ((tile / ${u('tilesM')}) * (${SPLIT_WORKGROUP} / ${u('blocksM')}) + t / ${u('blocksM')}) * 4;
  if (i >= m || j >= n) {
    return;
  }
  var acc : array<vec4<f32>, 4>;
  let end = min((split + 1) * ${u('chunk')}, uniforms.tokens);
  for (var k = split * ${u('chunk')}; k < end; k++) {
    let pv = ${pRow}${maskRow};
    let qv = ${rowLoad(operands.q, 'j', 'n', vectorized)};
    acc[0] += pv.x * qv;
    acc[1] += pv.y * qv;
    acc[2] += pv.z * qv;
    acc[3] += pv.w * qv;
  }
  let base = ${u('offset')} + split * m * n;
  for (var c = 0; c < 4; c++) {
    if (i + c < m) {
      for (var d = 0; d < 4; d++) {
        if (j + d < n) {
          result[base + (i + c) * n + j + d] = acc[c][d]${whole ? ` * ${u('scale')}` : ''};
        }
      }
    }
  }
}`;
}

/**
 * The first pass for layers whose masks `masked` says are given (made from uniforms dropout_k…). Inputs: x, then per
 * layer k dDown_k, down_k and dy_k — vec4 arrays when `vectorized` (in, every r and out multiples of 4). Product s
 * takes workgroups start_s … start_s + workgroups_s − 1. With `whole` (every product's tokens one chunk: a step of
 * few tokens) each product's partials are its gradient, scaled here; the second pass is then left out (the caller cuts
 * them apart by copies), the same bits as its sum of one chunk times the scale. With `activation` `swiglu` (vectorized
 * only), x is SwiGLU's gating of the inputs `gate` and `up`, bound in x's place and formed as x is read, with
 * McevalSwiGlu's values; with `gelu`, GELU of the input `preActivation`, with McevalGelu's (a decoder's down projection
 * or an encoder's output projection in training: engine/ops/activated-low-rank-linear.ts).
 */
export function partialSumsCode(
  vectorized: boolean,
  masked: readonly boolean[],
  whole = false,
  activation?: Activation,
  carried = 0,
): string {
  if (activation !== undefined && !vectorized) throw new Error('partialSumsCode: an activation is read as vec4s');
  const products = masked.flatMap((mask, k): Operands[] => [
    { p: 'x', q: `dDown${k}`, ...(mask ? { mask: `dropout${k}` } : {}) },
    { p: `down${k}`, q: `dy${k}` },
  ]);
  const sources = [...new Set(products.flatMap(({ p, q }) => [p, q]))];
  const readers = [
    ...(masked.some(Boolean) ? [HASHED_KEEP_WGSL] : []),
    ...(vectorized ? [] : sources.map(scalarRowReader)),
    ...(activation === undefined ? [] : [activatedX(activation).declarations]),
  ];
  const dispatch = products.map(
    (_, s) => `
  if (g >= uniforms.start${s} && g < uniforms.start${s} + uniforms.workgroups${s}) {
    part${s}(g - uniforms.start${s});
  }`,
  );
  const last = products.length - 1;
  // An earlier call's second pass, in the workgroups after this pass's own, one output per invocation.
  const carriedPart =
    carried === 0
      ? ''
      : `
  let carriedFrom = uniforms.start${last} + uniforms.workgroups${last};
  if (g >= carriedFrom) {
    carriedSums((g - carriedFrom) * ${SPLIT_WORKGROUP} + i32(localIndex));
    return;
  }`;
  return `${readers.join('\n')}
${products.map((operands, s) => productPart(s, operands, vectorized, whole, activation)).join('\n')}
${carried === 0 ? '' : carriedSumsCode(carried)}
fn main() {
  let g = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);${carriedPart}${dispatch.join('')}
}
`;
}

/** The name the second pass writes product s's gradient to: the shader's output for the first, else `out${s}`. */
export const sumTarget = (s: number) => (s === 0 ? 'result' : `out${s}`);

/**
 * The second pass for `products` products: output element e of product s (at outStart_s … in the concatenation of
 * the products' outputs) is the sum of its partials in chunk order, times scale_s. Input: the partials, then each
 * product's output after the first (writable).
 */
export function chunkSumCode(elementIndex: string, products: number): string {
  return `
fn main() {
  let e = ${elementIndex};${chunkSums(products, '', 'partials', sumTarget)}
}
`;
}

/**
 * Output element e's sums (chunkSumCode's), for products whose fields are named after `prefix`, from the partials
 * `partials`, product s written to `target(s)`.
 */
function chunkSums(products: number, prefix: string, partials: string, target: (s: number) => string): string {
  const u = (field: string, s: number) => `uniforms.${prefix}${field}${s}`;
  return Array.from(
    { length: products },
    (_, s) => `
  if (e >= ${u('outStart', s)} && e < ${u('outStart', s)} + ${u('m', s)} * ${u('n', s)}) {
    let f = e - ${u('outStart', s)};
    let size = ${u('m', s)} * ${u('n', s)};
    var sum = 0.0;
    for (var c = 0; c < ${u('splits', s)}; c++) {
      sum += ${partials}[${u('offset', s)} + c * size + f];
    }
    ${target(s)}[f] = sum * ${u('scale', s)};
  }`,
  ).join('');
}

/** The input an earlier call's partials are bound as, where a first pass carries its second (`carriedSumsCode`). */
export const CARRIED_PARTIALS = 'carried';
/** The writable input that a carried second pass writes its product s to. */
export const carriedTarget = (s: number) => `carried${s}`;

/**
 * `carriedSums(e)`: the second pass of an earlier call of `products` products, run by the workgroups of a first pass
 * after its own (the same sums in the same order as chunkSumCode's: the same bits), so that the two take one dispatch.
 * Its uniforms are carriedSumUniforms', its inputs the partials (CARRIED_PARTIALS) and each product's target
 * (carriedTarget, writable).
 */
function carriedSumsCode(products: number): string {
  return `
fn carriedSums(e : i32) {${chunkSums(products, CARRIED, CARRIED_PARTIALS, carriedTarget)}
}
`;
}
