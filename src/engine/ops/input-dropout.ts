/**
 * A dropout on a low-rank layer's input as the ops take it: its hash, whose mask a webgpu kernel makes where it reads
 * it (the mask is never written or kept), or the mask made already — on backends without those kernels the layer's op
 * makes it once and keeps it for the backward pass, since making it again for each of its three uses there cost a wasm
 * step 5% (builtin:small, 4 × 64 tokens).
 */
import type { Tensor } from '../tf.js';
import type { HashedDropout } from '../dropout-bits.js';
import { keepMask } from './dropout.js';

export type InputDropout = { readonly hash: HashedDropout } | { readonly mask: Tensor };

/** The hash a kernel makes the mask from; undefined when there is no dropout or its mask is made already. */
export const dropoutHash = (dropout: InputDropout | undefined): HashedDropout | undefined =>
  dropout !== undefined && 'hash' in dropout ? dropout.hash : undefined;

/** Whether a kernel can take this dropout (none, or a hash). */
export const kernelTakes = (dropout: InputDropout | undefined): boolean => dropout === undefined || 'hash' in dropout;

/** The mask, shaped `shape`: the one made already, or made now from the hash. */
export const dropoutMaskOf = (dropout: InputDropout, shape: number[]): Tensor =>
  'mask' in dropout ? dropout.mask : keepMask(shape, dropout.hash);
