/**
 * Binary F1 of the positive class (label 1), as GLUE reports for MRPC and QQP (sklearn's f1_score with its defaults):
 * 2·TP / (2·TP + FP + FN), and 0 when there is no positive prediction or reference at all.
 */
export function binaryF1(predictions: readonly number[], references: readonly number[]): number {
  if (predictions.length !== references.length) throw new Error('F1: predictions and references differ in length');
  let tp = 0;
  let fp = 0;
  let fn = 0;
  predictions.forEach((prediction, i) => {
    const reference = references[i]!;
    if (prediction === 1 && reference === 1) tp += 1;
    else if (prediction === 1) fp += 1;
    else if (reference === 1) fn += 1;
  });
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}
