/**
 * Inputs longer than the model's context window, cut as lm-eval's HF model cuts them: on the left, so the end of the
 * prompt and the whole continuation survive. Generation keeps the prompt's last (window − new tokens) tokens; scoring
 * keeps the last window + 1 tokens (the model reads window tokens and predicts the next one at each).
 */

/** The prompt ids generation may start from, leaving room for `maxNewTokens` inside `window` positions. */
export function fitPromptToWindow(ids: readonly number[], window: number, maxNewTokens: number): number[] {
  const keep = Math.max(1, window - maxNewTokens);
  return ids.length > keep ? ids.slice(ids.length - keep) : [...ids];
}

/** A scored sequence cut to the last window + 1 tokens, with `from` (where scoring starts) moved with it. */
export function fitScoredToWindow(
  ids: readonly number[],
  from: number,
  window: number,
): { ids: number[]; from: number } {
  const dropped = Math.max(0, ids.length - (window + 1));
  return { ids: ids.slice(dropped), from: Math.max(0, from - dropped) };
}
