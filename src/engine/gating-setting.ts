/**
 * MCEVAL_WEBGPU_GATING: `inside` (unset) or `apart` — on webgpu, whether a trained decoder's down projection reads
 * SwiGLU's gating inside its kernels (ops/gated-low-rank-linear.ts) or has it formed first, McevalSwiGlu and
 * McevalSwiGluGrad a dispatch each (the kit and the tests compare the two). Read at each call, and as the engine
 * starts, so that a bad value stops a run first.
 */
import { environmentChoice } from './environment-choice.js';

export function gatingSetting(): 'inside' | 'apart' {
  return environmentChoice('MCEVAL_WEBGPU_GATING', ['inside', 'apart']);
}
