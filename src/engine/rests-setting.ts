/**
 * MCEVAL_WEBGPU_RESTS: `alongside` (unset) or `apart` — on webgpu, whether a layer split at its dropout (DoRA's under
 * dropout, ops/low-rank-linear.ts) forms its rest x_r·W + b, and in training the rest's input gradient, in its dropped
 * part's inline product (a second set of accumulators over the same W tiles: one dispatch a layer fewer each way, and
 * no group of such layers) or by a McevalMatrixProduct of its own each way. The same sums either way, so the same
 * bits; which is faster is the GPU's to say (more registers and workgroup memory a workgroup against fewer
 * dispatches), so the kit and `mceval tune` time both. Read at each call, and as the engine starts, so that a bad
 * value stops a run first.
 */
import { environmentChoice } from './environment-choice.js';

export function restsSetting(): 'alongside' | 'apart' {
  return environmentChoice('MCEVAL_WEBGPU_RESTS', ['alongside', 'apart']);
}
