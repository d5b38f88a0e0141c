/**
 * AdaLoRA's rank budget over training (PEFT's RankAllocator.budget_schedule): the full budget until tinit, then a
 * cubic decrease to the target, reached tfinal steps before the end; reallocation every deltaT steps in between,
 * and at every step of the final phase. `step` is PEFT's global_step: updates completed before this one.
 */
export interface BudgetSchedule {
  readonly initialBudget: number;
  readonly targetBudget: number;
  readonly tinit: number;
  readonly tfinal: number;
  readonly deltaT: number;
  readonly totalSteps: number;
}

export function budgetAt(step: number, schedule: BudgetSchedule): { budget: number; mask: boolean } {
  const { initialBudget, targetBudget, tinit, tfinal, deltaT, totalSteps } = schedule;
  if (step <= tinit) return { budget: initialBudget, mask: false };
  if (step > totalSteps - tfinal) return { budget: targetBudget, mask: true };
  const remaining = 1 - (step - tinit) / (totalSteps - tfinal - tinit);
  // int() in PEFT truncates toward zero; the value is never negative here.
  const budget = Math.trunc((initialBudget - targetBudget) * remaining ** 3 + targetBudget);
  return { budget, mask: step % deltaT === 0 };
}

/** The k-th smallest value (1-based), as torch.kthvalue. */
export function kthSmallest(values: readonly number[], k: number): number {
  if (k < 1 || k > values.length) throw new RangeError(`k = ${k} is outside 1…${values.length}.`);
  return [...values].sort((a, b) => a - b)[k - 1]!;
}

/**
 * Which triplets survive a budget: those scoring above the (initial − budget)-th smallest score of all layers'
 * triplets together. Ties at the threshold are pruned, as PEFT's `<=` does. Nothing is pruned when the budget
 * already covers every triplet.
 */
export function keepMasks(scores: readonly (readonly number[])[], initialBudget: number, budget: number): boolean[][] {
  const pruned = initialBudget - budget;
  if (pruned <= 0) return scores.map((layer) => layer.map(() => true));
  const threshold = kthSmallest(scores.flat(), pruned);
  return scores.map((layer) => layer.map((score) => score > threshold));
}
