/**
 * Multiple choice by log-likelihood, as lm-eval scores it: `acc` picks the choice whose continuation has the highest
 * summed log-probability; `acc_norm` divides each by the continuation's length in characters first, so long
 * answers are not penalised for having more tokens. Ties go to the first choice (numpy's argmax).
 */
export interface ChoiceScore {
  /** Σ log p(continuation tokens | context). */
  readonly logLikelihood: number;
  /** Characters in the continuation (lm-eval's acc_norm length). */
  readonly characters: number;
}

function argmax(values: readonly number[]): number {
  let best = 0;
  values.forEach((value, i) => {
    if (value > values[best]!) best = i;
  });
  return best;
}

export function multipleChoicePredictions(choices: readonly ChoiceScore[]): { acc: number; accNorm: number } {
  if (choices.length === 0) throw new Error('multiple choice needs at least one choice');
  return {
    acc: argmax(choices.map((choice) => choice.logLikelihood)),
    accNorm: argmax(choices.map((choice) => choice.logLikelihood / choice.characters)),
  };
}
