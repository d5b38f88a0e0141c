import type { Rng } from '../engine/rng.js';

/** How a forward pass runs: training mode turns on dropout and adapter noise, whose draws come from `rng`. */
export interface ForwardContext {
  readonly training: boolean;
  readonly rng?: Rng;
}

export const EVAL_CONTEXT: ForwardContext = { training: false };
