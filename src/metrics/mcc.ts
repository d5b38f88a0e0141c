/**
 * Matthews correlation coefficient, as GLUE reports for CoLA (sklearn's matthews_corrcoef, multiclass form):
 *   (c·s − Σ_k p_k t_k) / √((s² − Σ_k p_k²)(s² − Σ_k t_k²))
 * with c correct predictions, s samples, p_k / t_k the times class k was predicted / true; 0 when undefined.
 * For two classes it is (TP·TN − FP·FN)/√((TP+FP)(TP+FN)(TN+FP)(TN+FN)).
 */
export function matthewsCorrelation(predictions: readonly number[], references: readonly number[]): number {
  if (predictions.length !== references.length) throw new Error('MCC: predictions and references differ in length');
  const predicted = new Map<number, number>();
  const actual = new Map<number, number>();
  let correct = 0;
  predictions.forEach((prediction, i) => {
    predicted.set(prediction, (predicted.get(prediction) ?? 0) + 1);
    actual.set(references[i]!, (actual.get(references[i]!) ?? 0) + 1);
    if (prediction === references[i]) correct += 1;
  });
  const s = predictions.length;
  const classes = new Set([...predicted.keys(), ...actual.keys()]);
  let pt = 0;
  let pp = 0;
  let tt = 0;
  for (const k of classes) {
    const p = predicted.get(k) ?? 0;
    const t = actual.get(k) ?? 0;
    pt += p * t;
    pp += p * p;
    tt += t * t;
  }
  const denominator = Math.sqrt((s * s - pp) * (s * s - tt));
  return denominator === 0 ? 0 : (correct * s - pt) / denominator;
}
