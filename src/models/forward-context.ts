import type { Rng } from '../engine/rng.js';
import { ForwardConstants } from './forward-constants.js';

/** How a forward pass runs: training mode turns on dropout and adapter noise, whose draws come from `rng`. */
export interface ForwardContext {
  readonly training: boolean;
  readonly rng?: Rng;
  /**
   * Where the passes of one call share what their weights derive (a generation's steps, an evaluation's batches, a
   * training step's micro-batches); none elsewhere.
   */
  readonly constants?: ForwardConstants;
}

export const EVAL_CONTEXT: ForwardContext = { training: false };

/**
 * `body` given an evaluation context whose forward passes share what the unchanging weights derive (DoRA's norms),
 * freed when it settles: for calls of several passes (a generation's steps, an evaluation's batches). Given `shared`
 * (the context of an enclosing call over the same weights), `body` runs in that one, which its maker frees.
 */
export async function withEvaluationContext<T>(
  body: (context: ForwardContext) => Promise<T>,
  shared?: ForwardContext,
): Promise<T> {
  if (shared !== undefined) return body(shared);
  const constants = new ForwardConstants();
  try {
    return await body({ ...EVAL_CONTEXT, constants });
  } finally {
    constants.dispose();
  }
}
