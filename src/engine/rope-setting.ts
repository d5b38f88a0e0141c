/**
 * MCEVAL_WEBGPU_ROPE: `inside` (unset) or `apart` — on webgpu, whether attention's shaders rotate a decoder layer's
 * queries and keys as they load them, and turn dq and dk back as they write them (kernels/webgpu/attention-rope-wgsl.ts),
 * or McevalRope rotates them first, a dispatch each way (the kit and the tests compare the two). Inside only where
 * attention reads no past keys and keeps no KV cache — scoring, and training where the device binds nine storage
 * buffers (models/layers/rope.ts's ropeInsideAttention); a cache holds its keys rotated. Read at each forward pass,
 * and as the engine starts, so that a bad value stops a run first.
 */
import { environmentChoice } from './environment-choice.js';

export function ropeSetting(): 'inside' | 'apart' {
  return environmentChoice('MCEVAL_WEBGPU_ROPE', ['inside', 'apart']);
}
