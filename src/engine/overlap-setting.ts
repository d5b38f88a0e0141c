/**
 * MCEVAL_WEBGPU_OVERLAP: `on` (unset) or `off` — on webgpu, whether fine-tuning records a step while the one before it
 * is still being read back (train/fine-tune.ts says when it may). Read as the engine starts too, so that a bad value
 * stops a run first.
 */
import { environmentChoice } from './environment-choice.js';

export function overlapSetting(): 'on' | 'off' {
  return environmentChoice('MCEVAL_WEBGPU_OVERLAP', ['on', 'off']);
}
