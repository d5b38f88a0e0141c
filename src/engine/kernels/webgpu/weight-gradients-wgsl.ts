/**
 * WGSL for a low-rank layer's two weight gradients, dA = (m ⊙ x)ᵀ·dDown [in, r] and dB = s·downᵀ·dy [r, out]: products
 * over the step's tokens whose outputs are narrow, so a tiling over the output alone leaves a GPU a few workgroups,
 * each walking every token (tfjs-webgpu's 32 × 32 tiles: 24 workgroups for a [768, 8] gradient). Here the tokens are
 * split too. The first pass gives each workgroup an output tile and a chunk of tokens, and writes that chunk's partial
 * sums. The second adds each output's partials in chunk order, so the result does not depend on which workgroup
 * finished first. tfjs's own split-K adds atomically, in whatever order the GPU runs its workgroups. Both
 * products share each pass: two dispatches for both gradients, where tfjs's products take one each and the dropout
 * mask's multiplication a third.
 *
 * A workgroup of 64 invocations covers a tile of blocksM × blocksN blocks of 4 × 4 outputs. Each invocation reads a
 * vec4 of p's row and one of q's per token and does 16 multiply-adds, without workgroup memory or barriers. The
 * narrow side gets the fewest blocks that cover it (at most 8), the wide side the rest, and consecutive invocations
 * take consecutive blocks along m.
 */

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

/** The uniforms of both passes (after tfjs's own), product 0 then product 1, each with its partials' offset. */
export const WEIGHT_GRADIENT_UNIFORMS = ['0', '1']
  .map(
    (s) => `m${s} : i32, n${s} : i32, blocksM${s} : i32, tilesM${s} : i32, splits${s} : i32, chunk${s} : i32,
  workgroups${s} : i32, offset${s} : i32,`,
  )
  .join('\n')
  .concat('\ntokens : i32, dyScale : f32,');

/** The integer uniform values for two plans, in WEIGHT_GRADIENT_UNIFORMS' order (dyScale, a float, follows them). */
export function weightGradientUniformValues(plans: readonly [ProductPlan, ProductPlan], tokens: number): number[] {
  const offsets = [0, plans[0].splits * plans[0].m * plans[0].n];
  return [
    ...plans.flatMap((plan, s) => [
      plan.m,
      plan.n,
      plan.blocksM,
      plan.tilesM,
      plan.splits,
      plan.chunk,
      plan.workgroups,
      offsets[s]!,
    ]),
    tokens,
  ];
}

/** The partial sums both products write: the first pass's output size. */
export const partialCount = (plans: readonly ProductPlan[]) =>
  plans.reduce((sum, plan) => sum + plan.splits * plan.m * plan.n, 0);

/** A product's operands: p [tokens, m], q [tokens, n], and a mask shaped like p (or none). */
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

/** The first pass's share of product `s`: workgroup g's tile and chunk, written to its place among the partials. */
function productPart(s: '0' | '1', operands: Operands, vectorized: boolean): string {
  const u = (field: string) => `uniforms.${field}${s}`;
  const pRow = rowLoad(operands.p, 'i', 'm', vectorized);
  const maskRow = operands.mask === undefined ? '' : ` * ${rowLoad(operands.mask, 'i', 'm', vectorized)}`;
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
          result[base + (i + c) * n + j + d] = acc[c][d];
        }
      }
    }
  }
}`;
}

/**
 * The first pass. Inputs: x, the mask (when `mask`), dDown, down, dy — vec4 arrays when `vectorized` (in, r and out
 * multiples of 4). Workgroups 0 … workgroups0 − 1 take dA, the next workgroups1 take dB.
 */
export function partialSumsCode(vectorized: boolean, mask: boolean): string {
  const first: Operands = { p: 'x', q: 'dDown', ...(mask ? { mask: 'mask' } : {}) };
  const second: Operands = { p: 'down', q: 'dy' };
  const readers = vectorized ? [] : ['x', 'dDown', 'down', 'dy', ...(mask ? ['mask'] : [])].map(scalarRowReader);
  return `${readers.join('\n')}
${productPart('0', first, vectorized)}
${productPart('1', second, vectorized)}

fn main() {
  let g = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
  if (g < uniforms.workgroups0) {
    part0(g);
  } else if (g < uniforms.workgroups0 + uniforms.workgroups1) {
    part1(g - uniforms.workgroups0);
  }
}
`;
}

/**
 * The second pass: output e of dA (the result) or of dB (the writable input `second`, times dyScale) is the sum of
 * its partials in chunk order. Input: the partials, then `second`.
 */
export function chunkSumCode(elementIndex: string): string {
  return `
fn main() {
  let e = ${elementIndex};
  let size0 = uniforms.m0 * uniforms.n0;
  let size1 = uniforms.m1 * uniforms.n1;
  if (e < size0) {
    var sum = 0.0;
    for (var s = 0; s < uniforms.splits0; s++) {
      sum += partials[s * size0 + e];
    }
    result[e] = sum;
  } else if (e < size0 + size1) {
    let f = e - size0;
    var sum = 0.0;
    for (var s = 0; s < uniforms.splits1; s++) {
      sum += partials[uniforms.offset1 + s * size1 + f];
    }
    second[f] = sum * uniforms.dyScale;
  }
}
`;
}
