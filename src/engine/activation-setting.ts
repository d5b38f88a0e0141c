/**
 * MCEVAL_WEBGPU_ACTIVATIONS: `inside` (unset) or `apart` — on webgpu, whether a layer that reads an activation of its
 * input (a decoder's down projection, SwiGLU's gating; an encoder's output projection, GELU) reads it inside its
 * kernels (ops/activated-low-rank-linear.ts; a plain frozen down projection off the tape, ops/gated-input.ts) or has
 * it formed first, the activation (and in training its gradient) a dispatch each (the kit and the tests compare the
 * two). Read at each call, and as the engine starts, so that a bad value stops a run first.
 */
import { environmentChoice } from './environment-choice.js';

export function activationSetting(): 'inside' | 'apart' {
  return environmentChoice('MCEVAL_WEBGPU_ACTIVATIONS', ['inside', 'apart']);
}
