/**
 * The outputs of low-rank layers that read one RMS-normalized input — a decoder's q, k and v after its input norm, its
 * gate and up after the post-attention norm — where webgpu's inline products normalize x as they load it
 * (McevalLowRankProductInline, or McevalLowRankProductGroup for several layers): the norm is neither a dispatch nor a
 * tensor of its own. Each row's reciprocal RMS is formed by McevalRmsNorm's sums, tree and expression, so the outputs
 * are those of norming first. For forward passes off the tape: no x·A is written and there is no gradient. Undefined
 * where the layers would not run as one such dispatch — each a low-rank update without dropout, perturbation, bias or
 * residual; one layer, or a group the device binds — or x has more rows than one tile (a decoding step has one per
 * sequence): each column of tiles forms its rows' norms again, an extra pass over x that a prompt's or a scoring
 * batch's rows would pay on the GPU for the one dispatch saved. The caller then norms first.
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import {
  LOW_RANK_PRODUCT_GROUP,
  LOW_RANK_PRODUCT_INLINE,
  groupsInlineProducts,
  inlinesNarrowProduct,
  productBlocks,
  type GroupProductAttrs,
  type InlineProductAttrs,
} from '../kernels/webgpu/low-rank-product.js';
import type { WebGpuBackendLike } from '../kernels/webgpu/shader.js';
import { productTile } from '../kernels/webgpu/low-rank-product-wgsl.js';
import { outputInlineAttrs, type LowRankLayer } from './low-rank-linear.js';
import { numberedInputs } from './numbered-inputs.js';
import {
  NORMALIZED_PRODUCTS,
  normalizedProductsShape,
  type NormalizedProductsAttrs,
} from '../kernels/webgpu/normalized-products.js';
import { flatten, restore } from './linear.js';
import { withColumnScales } from './column-scales.js';

/** RMSNorm's weight [inner] and epsilon. */
export interface RmsNormSpec {
  readonly weight: Tensor;
  readonly eps: number;
}

export function normalizedLowRankLinears(
  x: Tensor,
  norm: RmsNormSpec,
  layers: readonly LowRankLayer[],
): Tensor[] | undefined {
  return withColumnScales(layers, (plain) => unscaledNormalizedLowRankLinears(x, norm, plain));
}

/** normalizedLowRankLinears for layers without a column scale. */
function unscaledNormalizedLowRankLinears(
  x: Tensor,
  norm: RmsNormSpec,
  layers: readonly LowRankLayer[],
): Tensor[] | undefined {
  const plain = ({ bias, residual, update }: LowRankLayer) =>
    bias === undefined && residual === undefined && update.dropout === undefined && update.perturbation === undefined;
  const rank = layers[0]?.update.a.shape[1];
  // One dispatch's layers all hold their columns' factors in B, or none does.
  const factors = layers[0]?.update.columnFactors;
  const alike = (layer: LowRankLayer) => layer.update.a.shape[1] === rank && layer.update.columnFactors === factors;
  if (rank === undefined || !layers.every((layer) => plain(layer) && alike(layer))) return undefined;
  const inner = x.shape[x.shape.length - 1]!;
  const rows = x.size / inner;
  const columns = layers.map((layer) => layer.weight.shape[1]);
  if (rows > productTile(productBlocks())) return undefined;
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const single = layers.length === 1;
  const runs = single
    ? hasKernel(LOW_RANK_PRODUCT_INLINE) &&
      inlinesNarrowProduct(backend, {
        rows,
        inner,
        columns: columns[0]!,
        rank,
        inputMask: false,
        others: 0,
        normalized: true,
      })
    : hasKernel(LOW_RANK_PRODUCT_GROUP) &&
      groupsInlineProducts(backend, { rows, inner, columns, rank, inputMask: false, normalized: true });
  if (!runs) return undefined;
  return tf.tidy(() => {
    const normWeight = tf.reshape(norm.weight, [inner]);
    const outputs = single
      ? runInline(flatten(x), normWeight, layers[0]!, norm.eps)
      : runGroup(flatten(x), normWeight, layers, norm.eps);
    return outputs.map((y) => restore(y, x));
  });
}

/**
 * RMSNorm(x)·W_l for plain layers (no adapter, no bias) that read one normalized x, in one dispatch where the few-rows
 * shader takes x's rows (a decoding step's) and the device binds the layers (McevalNormalizedProducts); else undefined,
 * and the caller norms first. The same values as norming first: the norm's sums, and the products' (few-rows.ts).
 */
export function normalizedPlainLinears(
  x: Tensor,
  norm: RmsNormSpec,
  weights: readonly Tensor2D[],
): Tensor[] | undefined {
  if (weights.length === 0 || !hasKernel(NORMALIZED_PRODUCTS)) return undefined;
  const inner = x.shape[x.shape.length - 1]!;
  const rows = x.size / inner;
  const columns = weights.map((w) => w.shape[1]);
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  if (normalizedProductsShape(backend, rows, inner, columns) === undefined) return undefined;
  return tf.tidy(() => {
    const inputs = {
      x: flatten(x),
      normWeight: tf.reshape(norm.weight, [inner]),
      ...numberedInputs(weights.map((w) => ({ w }))),
    };
    const attrs: NormalizedProductsAttrs = { normEps: norm.eps, members: weights.length };
    const outputs = tf.engine().runKernel(NORMALIZED_PRODUCTS, inputs as never, attrs as never) as Tensor2D[];
    return outputs.map((y) => restore(y, x));
  });
}

function runInline(x: Tensor2D, normWeight: Tensor, { weight, update }: LowRankLayer, eps: number): Tensor2D[] {
  const inputs = { x, w: weight, n: update.a, e: update.b, normWeight };
  const attrs: InlineProductAttrs = { ...outputInlineAttrs(update), normEps: eps };
  return tf.engine().runKernel(LOW_RANK_PRODUCT_INLINE, inputs as never, attrs as never) as Tensor2D[];
}

function runGroup(x: Tensor2D, normWeight: Tensor, layers: readonly LowRankLayer[], eps: number): Tensor2D[] {
  const members = layers.map(({ weight, update }) => ({ w: weight, n: update.a, e: update.b }));
  const inputs = { x, normWeight, ...numberedInputs(members) };
  const attrs: GroupProductAttrs = {
    scales: layers.map(({ update }) => update.scaling),
    normEps: eps,
    columnFactors: layers[0]!.update.columnFactors,
  };
  return tf.engine().runKernel(LOW_RANK_PRODUCT_GROUP, inputs as never, attrs as never) as Tensor2D[];
}
