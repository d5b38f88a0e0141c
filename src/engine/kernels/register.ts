/** Registers mceval's own kernels for a backend, replacing slow or missing ones. Idempotent. */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { tf } from '../tf.js';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.js';
import { causalAttentionKernels } from './causal-attention.js';
import { sharedIdentityKernel } from './shared-identity.js';
import { transposedProductKernel } from './transposed-product.js';
import { adamwUpdateKernel } from './adamw-update.js';
import { webGpuAttentionKernels } from './webgpu/causal-attention.js';
import { webGpuLowRankProductKernels } from './webgpu/low-rank-product.js';
import { webGpuMatrixProductKernel } from './webgpu/matrix-product.js';
import { webGpuNormalizedProductsKernel } from './webgpu/normalized-products.js';
import { webGpuWeightGradientsKernel } from './webgpu/weight-gradients.js';
import { webGpuNarrowProductKernel } from './webgpu/narrow-product.js';
import { webGpuAdamwUpdateKernel } from './webgpu/adamw-update.js';
import { webGpuAccumulateKernel } from './webgpu/accumulate.js';
import { webGpuRegularizerKernels } from './webgpu/regularizer-terms.js';
import { webGpuRegularizerLogKernel } from './webgpu/regularizer-log.js';
import { webGpuSquaredSumKernel } from './webgpu/squared-sum.js';
import { webGpuUnpackKernel } from './webgpu/unpack.js';
import { webGpuJoinKernels } from './webgpu/joins.js';
import { webGpuRmsNormKernels } from './webgpu/rms-norm.js';
import { webGpuLayerNormKernels } from './webgpu/layer-norm.js';
import { webGpuGeluKernels } from './webgpu/gelu.js';
import { webGpuRopeKernel } from './webgpu/rope.js';
import { webGpuRopeAppendKernel } from './webgpu/rope-append.js';
import { webGpuDropoutMaskKernel } from './webgpu/dropout-mask.js';
import { webGpuHashedNormalsKernel } from './webgpu/hashed-normals.js';
import { webGpuSwiGluKernels } from './webgpu/swiglu.js';
import { webGpuCrossEntropyKernels } from './webgpu/cross-entropy.js';
import { webGpuDrawScaleKernels } from './webgpu/draw-scales.js';
import { webGpuFusedDrawKernels } from './webgpu/fused-draw.js';
import { webGpuPerturbedFactorsKernels } from './webgpu/perturbed-factors.js';
import { webGpuAdaptedColumnNormsKernel } from './webgpu/adapted-column-norms.js';
import { webGpuMagnitudeScaleKernels } from './webgpu/magnitude-scale.js';
import { webGpuRowsBackKernel } from './webgpu/rows-back.js';

/**
 * Backends whose UnsortedSegmentSum is missing (wasm) or pathologically slow (cpu), and whose attention and low-rank
 * weight gradients run on the host: both read tensors synchronously, which the WebAssembly kernels need.
 */
const HOST_BACKENDS = new Set(['wasm', 'cpu']);

/** The backend's own Identity kernels, kept for the cases the shared one hands back to them. */
const copyingIdentity = new Map<string, KernelFunc | undefined>();

function register(config: KernelConfig): void {
  const existing = tf.getKernel(config.kernelName, config.backendName);
  if (existing?.kernelFunc === config.kernelFunc) return;
  if (existing !== undefined) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

/** tfjs-webgpu's own kernels that mceval's replace (Unpack, Concat, Pack), kept to fall back on and to restore. */
const tfjsWebGpuKernels = new Map<string, KernelConfig | undefined>();

/** Created once, so that registering again finds the same kernel functions. */
let webGpuKernels: KernelConfig[] | undefined;

/** WGSL kernels for webgpu; MCEVAL_WEBGPU_KERNELS=0 leaves tfjs's own (composite) paths, to compare against. */
export function registerWebGpuKernels(enabled = process.env['MCEVAL_WEBGPU_KERNELS'] !== '0'): void {
  webGpuKernels ??= [
    ...webGpuAttentionKernels(),
    ...webGpuLowRankProductKernels(),
    webGpuMatrixProductKernel(),
    webGpuNormalizedProductsKernel(),
    webGpuWeightGradientsKernel(),
    webGpuNarrowProductKernel(),
    webGpuAdamwUpdateKernel(),
    webGpuAccumulateKernel(),
    ...webGpuRegularizerKernels(),
    webGpuRegularizerLogKernel(),
    webGpuSquaredSumKernel(),
    ...webGpuDrawScaleKernels(),
    ...webGpuFusedDrawKernels(),
    ...webGpuPerturbedFactorsKernels(),
    webGpuAdaptedColumnNormsKernel(),
    ...webGpuMagnitudeScaleKernels(),
    ...webGpuRmsNormKernels(),
    ...webGpuLayerNormKernels(),
    ...webGpuGeluKernels(),
    webGpuRopeKernel(),
    webGpuRopeAppendKernel(),
    webGpuDropoutMaskKernel(),
    webGpuHashedNormalsKernel(),
    ...webGpuSwiGluKernels(),
    ...webGpuCrossEntropyKernels(),
    webGpuRowsBackKernel(),
    webGpuUnpackKernel(() => tfjsWebGpuKernels.get('Unpack')?.kernelFunc),
    ...webGpuJoinKernels((kernelName) => tfjsWebGpuKernels.get(kernelName)?.kernelFunc),
  ];
  for (const config of webGpuKernels) {
    if (!tfjsWebGpuKernels.has(config.kernelName)) {
      tfjsWebGpuKernels.set(config.kernelName, tf.getKernel(config.kernelName, 'webgpu'));
    }
    if (enabled) {
      register(config);
      continue;
    }
    const own = tfjsWebGpuKernels.get(config.kernelName);
    if (tf.getKernel(config.kernelName, 'webgpu') !== undefined) tf.unregisterKernel(config.kernelName, 'webgpu');
    if (own !== undefined) tf.registerKernel(own);
  }
}

export function registerCustomKernels(backendName: string): void {
  if (backendName === 'webgpu') registerWebGpuKernels();
  if (!HOST_BACKENDS.has(backendName)) return;
  const kernels = [
    unsortedSegmentSumKernel(backendName),
    transposedProductKernel(backendName),
    adamwUpdateKernel(backendName),
  ];
  [...kernels, ...causalAttentionKernels(backendName)].forEach(register);
  if (backendName === 'wasm') {
    if (!copyingIdentity.has(backendName)) {
      copyingIdentity.set(backendName, tf.getKernel('Identity', backendName)?.kernelFunc);
      register(sharedIdentityKernel(backendName, copyingIdentity.get(backendName)));
    }
  }
}
