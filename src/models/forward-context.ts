import type { Rng } from '../engine/rng.js';
import type { ForwardConstants } from './forward-constants.js';

/** How a forward pass runs: training mode turns on dropout and adapter noise, whose draws come from `rng`. */
export interface ForwardContext {
  readonly training: boolean;
  readonly rng?: Rng;
  /**
   * Where the passes of one call share what their weights derive (a generation's steps, a training step's
   * micro-batches); none elsewhere.
   */
  readonly constants?: ForwardConstants;
}

export const EVAL_CONTEXT: ForwardContext = { training: false };
