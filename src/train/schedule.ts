/**
 * The learning-rate multiplier of transformers' get_linear_schedule_with_warmup at optimizer step `step` (0-based):
 * a linear ramp from 0 over the warm-up steps, then a linear decay to 0 at `totalSteps`.
 */
export function linearScheduleMultiplier(step: number, totalSteps: number, warmupSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}

/** Warm-up steps from a ratio, rounded up as transformers' TrainingArguments.get_warmup_steps does. */
export function warmupSteps(totalSteps: number, warmupRatio: number): number {
  return Math.ceil(totalSteps * warmupRatio);
}
