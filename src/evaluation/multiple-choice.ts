/**
 * Zero-shot multiple choice as lm-eval runs it: each choice's log-likelihood as the continuation " choice" of the
 * context (or, with partial scoring, the shared continuation's log-likelihood after each choice's own context); `acc` from the raw sums, `acc_norm` from sums divided by the choice's length in characters. The NLL
 * reported (for intrinsic robustness) is −log of the gold choice's share of the choices' likelihoods.
 */
import type { LlamaModel } from '../models/llama/model.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { scoreContinuations } from '../generation/score.js';
import { multipleChoicePredictions } from '../metrics/multiple-choice.js';
import type { MultipleChoiceDoc } from '../tasks/types.js';

export interface MultipleChoiceEvaluation {
  readonly accuracy: number;
  readonly nll: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly samples: readonly Readonly<Record<string, unknown>>[];
}

function logSumExp(values: readonly number[]): number {
  const max = Math.max(...values);
  return max + Math.log(values.reduce((sum, value) => sum + Math.exp(value - max), 0));
}

export async function evaluateMultipleChoice(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  docs: readonly MultipleChoiceDoc[],
  batchSize?: number,
): Promise<MultipleChoiceEvaluation> {
  const requests = docs.flatMap((doc) =>
    doc.choices.map((choice) =>
      doc.continuation === undefined
        ? { context: doc.context, continuation: ` ${choice}` }
        : { context: choice, continuation: ` ${doc.continuation}` },
    ),
  );
  const scores = await scoreContinuations(model, tokenizer, requests, batchSize);
  let offset = 0;
  let acc = 0;
  let accNorm = 0;
  let nll = 0;
  const samples = docs.map((doc) => {
    const logLikelihoods = doc.choices.map((_, k) => scores[offset + k]!.logprob);
    offset += doc.choices.length;
    const { acc: pick, accNorm: pickNorm } = multipleChoicePredictions(
      logLikelihoods.map((logLikelihood, k) => ({
        logLikelihood,
        characters: doc.continuation === undefined ? doc.choices[k]!.length : doc.continuation.length,
      })),
    );
    if (pick === doc.gold) acc += 1;
    if (pickNorm === doc.gold) accNorm += 1;
    nll += logSumExp(logLikelihoods) - logLikelihoods[doc.gold]!;
    return {
      loglikelihoods: logLikelihoods,
      prediction: pick,
      prediction_norm: pickNorm,
      acc: pick === doc.gold,
      acc_norm: pickNorm === doc.gold,
    };
  });
  const n = Math.max(1, docs.length);
  return { accuracy: acc / n, nll: nll / n, metrics: { acc: acc / n, acc_norm: accNorm / n }, samples };
}
