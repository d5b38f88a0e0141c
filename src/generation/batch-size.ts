/**
 * Prompts generated together, and sequences scored together, where the caller (`--eval-batch-size`, lm-eval's
 * --batch_size) does not say.
 */
export const DEFAULT_EVAL_BATCH = 16;
