/**
 * MCEVAL_WEBGPU_REPLAY: `off` (unset) or `on` — on webgpu, whether fine-tuning replays a step of a shape it has
 * recorded and checked rather than recording it again (engine/replay/step-replayer.ts; fine-tune.ts says when it may).
 * Read as the engine starts too, so that a bad value stops a run first.
 */
import { environmentChoice } from './environment-choice.js';

export function replaySetting(): 'off' | 'on' {
  return environmentChoice('MCEVAL_WEBGPU_REPLAY', ['off', 'on']);
}
