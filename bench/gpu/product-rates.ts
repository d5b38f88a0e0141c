/**
 * The products a step is made of, alone, for the GPU kit (bench.ts's `products`, robustness.ts's): TFLOP/s of tfjs's
 * matMul and of mceval's tiles and fused low-rank products at rows × inner × columns shapes, under each way the tiles
 * can be set (MCEVAL_WEBGPU_PRODUCT_TILE, _CODE and _PREFETCH).
 */
import { tf, type Tensor } from '../../src/engine/tf.js';
import { registerWebGpuKernels } from '../../src/engine/kernels/register.js';
import {
  LOW_RANK_PRODUCT,
  LOW_RANK_PRODUCT_GROUP,
  LOW_RANK_PRODUCT_INLINE,
} from '../../src/engine/kernels/webgpu/low-rank-product.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { numberedInputs } from '../../src/engine/ops/numbered-inputs.js';
import { MATRIX_PRODUCT, type MatrixProductAttrs } from '../../src/engine/kernels/webgpu/matrix-product.js';
import { NARROW_PRODUCT } from '../../src/engine/kernels/webgpu/narrow-product.js';
import { withEnv } from '../../test/with-env.js';
import { timePerCall } from './time-per-call.js';

export const withProductTile = <T>(tile: '64' | '128', body: () => Promise<T>) =>
  withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, body);
export const withProductCode = <T>(code: 'loops' | 'unrolled', body: () => Promise<T>) =>
  withEnv('MCEVAL_WEBGPU_PRODUCT_CODE', code, body);
export const withProductPrefetch = <T>(prefetch: 'off' | 'on', body: () => Promise<T>) =>
  withEnv('MCEVAL_WEBGPU_PRODUCT_PREFETCH', prefetch, body);

/**
 * TFLOP/s of 2 · rows · inner · columns for tfjs's matMul and for mceval's fused product (x·W + (x·A)·B, rank 8), and
 * for the product alone with W and with Wᵀ read (a frozen layer's input gradient dy·Wᵀ, a tied head's logits) by
 * tfjs's matMul and by mceval's tiles (MCEVAL_WEBGPU_PRODUCTS), 64 and 128 wide.
 */
export async function productRates(shapes: readonly (readonly [number, number, number])[], repeats: number) {
  registerWebGpuKernels(true);
  const results = [];
  for (const [rows, inner, columns] of shapes) {
    const [x, w, d, e, a] = [
      [rows, inner],
      [inner, columns],
      [rows, 8],
      [8, columns],
      [inner, 8],
    ].map((shape) => tf.randomNormal(shape, 0, 0.1, 'float32', 1));
    const flops = 2 * rows * inner * columns;
    const tfjs = await timePerCall(() => tf.matMul(x!, w!), repeats);
    const wT = tf.transpose(w!);
    const tfjsTransposed = await timePerCall(() => tf.matMul(x!, wT, false, true), repeats);
    const tiled = (transposeW: boolean) => {
      const tiledAttrs: MatrixProductAttrs = { transposeX: false, transposeW };
      const inputs = { x: x!, w: transposeW ? wT : w! };
      return () => tf.engine().runKernel(MATRIX_PRODUCT, inputs, tiledAttrs as never) as Tensor;
    };
    const matrix = await withProductTile('64', () => timePerCall(tiled(false), repeats));
    const matrixTransposed = await withProductTile('64', () => timePerCall(tiled(true), repeats));
    const matrix128 = await withProductTile('128', () => timePerCall(tiled(false), repeats));
    const matrixTransposed128 = await withProductTile('128', () => timePerCall(tiled(true), repeats));
    // The same tiles with their loops written out (MCEVAL_WEBGPU_PRODUCT_CODE=unrolled).
    const unrolled = <T>(body: () => Promise<T>) => withProductCode('unrolled', body);
    const matrixUnrolled = await unrolled(() => withProductTile('64', () => timePerCall(tiled(false), repeats)));
    const matrixUnrolled128 = await unrolled(() => withProductTile('128', () => timePerCall(tiled(false), repeats)));
    // And with their operands' next inner indices read ahead (MCEVAL_WEBGPU_PRODUCT_PREFETCH=on), each code.
    const prefetched = <T>(body: () => Promise<T>) => withProductPrefetch('on', body);
    const matrixPrefetched = await prefetched(() => withProductTile('64', () => timePerCall(tiled(false), repeats)));
    const matrixPrefetched128 = await prefetched(() =>
      withProductTile('128', () => timePerCall(tiled(false), repeats)),
    );
    const matrixUnrolledPrefetched = await unrolled(() =>
      prefetched(() => withProductTile('64', () => timePerCall(tiled(false), repeats))),
    );
    const matrixUnrolledPrefetched128 = await unrolled(() =>
      prefetched(() => withProductTile('128', () => timePerCall(tiled(false), repeats))),
    );
    const attrs = { transposeW: false, transposeE: false, scale: 1 };
    const fused = () =>
      tf.engine().runKernel(LOW_RANK_PRODUCT, { x: x!, w: w!, d: d!, e: e! }, attrs as never) as Tensor;
    const mceval = await withProductTile('64', () => timePerCall(fused, repeats));
    const mceval128 = await withProductTile('128', () => timePerCall(fused, repeats));
    const mcevalUnrolled = await unrolled(() => withProductTile('64', () => timePerCall(fused, repeats)));
    const mcevalUnrolled128 = await unrolled(() => withProductTile('128', () => timePerCall(fused, repeats)));
    const mcevalPrefetched = await prefetched(() => withProductTile('64', () => timePerCall(fused, repeats)));
    const mcevalPrefetched128 = await prefetched(() => withProductTile('128', () => timePerCall(fused, repeats)));
    // A LoRA layer's output both ways: x·A by a dispatch of its own then the fused product, or both in one.
    const separate = () =>
      tf.tidy(() => {
        const down = tf.engine().runKernel(NARROW_PRODUCT, { x: x!, w: a! }, { transposeW: false, scale: 1 } as never);
        return tf.engine().runKernel(LOW_RANK_PRODUCT, { x: x!, w: w!, d: down as Tensor, e: e! }, attrs as never);
      }) as Tensor;
    const inlineAttrs = { ...attrs, transposeN: false, narrowScale: 1 };
    const inline = () => {
      const outputs = tf
        .engine()
        .runKernel(LOW_RANK_PRODUCT_INLINE, { x: x!, w: w!, n: a!, e: e! }, inlineAttrs as never);
      const [y, down] = outputs as unknown as [Tensor, Tensor];
      down.dispose();
      return y;
    };
    const withNarrow = await withProductTile('64', () => timePerCall(separate, repeats));
    const inlined = await withProductTile('64', () => timePerCall(inline, repeats));
    const inlinedUnrolled = await unrolled(() => withProductTile('64', () => timePerCall(inline, repeats)));
    const inlinedPrefetched = await prefetched(() => withProductTile('64', () => timePerCall(inline, repeats)));
    // Three such layers reading one x in one dispatch, as a decoder's q, k and v are (the same operands each): 16
    // storage buffers, where the device binds them.
    const groupInputs = { x: x!, ...numberedInputs([0, 1, 2].map(() => ({ w: w!, n: a!, e: e! }))) };
    const group = () => {
      const outputs = tf.engine().runKernel(LOW_RANK_PRODUCT_GROUP, groupInputs, { scales: [1, 1, 1] } as never);
      const [y, ...rest] = outputs as unknown as Tensor[];
      tf.dispose(rest);
      return y!;
    };
    const binds = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike) >= 16;
    const grouped = binds ? await withProductTile('64', () => timePerCall(group, repeats)) : undefined;
    const groupedUnrolled = binds
      ? await unrolled(() => withProductTile('64', () => timePerCall(group, repeats)))
      : undefined;
    [x, w, d, e, a, wT].forEach((t) => t!.dispose());
    results.push({
      rows,
      inner,
      columns,
      tfjsTflops: flops / tfjs / 1e12,
      tfjsTransposedTflops: flops / tfjsTransposed / 1e12,
      matrixProductTflops: flops / matrix / 1e12,
      matrixProductTransposedTflops: flops / matrixTransposed / 1e12,
      matrixProductTile128Tflops: flops / matrix128 / 1e12,
      matrixProductTransposedTile128Tflops: flops / matrixTransposed128 / 1e12,
      mcevalTflops: flops / mceval / 1e12,
      mcevalTile128Tflops: flops / mceval128 / 1e12,
      matrixProductUnrolledTflops: flops / matrixUnrolled / 1e12,
      matrixProductUnrolledTile128Tflops: flops / matrixUnrolled128 / 1e12,
      mcevalUnrolledTflops: flops / mcevalUnrolled / 1e12,
      mcevalUnrolledTile128Tflops: flops / mcevalUnrolled128 / 1e12,
      matrixProductPrefetchedTflops: flops / matrixPrefetched / 1e12,
      matrixProductPrefetchedTile128Tflops: flops / matrixPrefetched128 / 1e12,
      matrixProductUnrolledPrefetchedTflops: flops / matrixUnrolledPrefetched / 1e12,
      matrixProductUnrolledPrefetchedTile128Tflops: flops / matrixUnrolledPrefetched128 / 1e12,
      mcevalPrefetchedTflops: flops / mcevalPrefetched / 1e12,
      mcevalPrefetchedTile128Tflops: flops / mcevalPrefetched128 / 1e12,
      narrowThenProductTflops: flops / withNarrow / 1e12,
      inlineNarrowTflops: flops / inlined / 1e12,
      groupOfThreeTflops: grouped === undefined ? null : (3 * flops) / grouped / 1e12,
      inlineNarrowUnrolledTflops: flops / inlinedUnrolled / 1e12,
      groupOfThreeUnrolledTflops: groupedUnrolled === undefined ? null : (3 * flops) / groupedUnrolled / 1e12,
      inlineNarrowPrefetchedTflops: flops / inlinedPrefetched / 1e12,
    });
  }
  return results;
}
