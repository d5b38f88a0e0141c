/**
 * String-level stop sequences, as lm-evaluation-harness (`until`) and bigcode's harness apply them: generation stops
 * once the decoded continuation contains any of them, and the text is cut where the first one begins.
 */
export function cutAtStopSequence(text: string, stops: readonly string[]): { text: string; stopped: boolean } {
  let cut = -1;
  for (const stop of stops) {
    if (stop === '') continue;
    const at = text.indexOf(stop);
    if (at >= 0 && (cut < 0 || at < cut)) cut = at;
  }
  return cut < 0 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}
