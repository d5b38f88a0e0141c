/**
 * LLM-Adapters' commonsense scoring (commonsense_evaluate.py): the first answer word the task allows ("solution1",
 * "answer3", "option2", "true") is extracted from the generated response and compared with the record's answer.
 */
import { findAll } from '../../evaluation/filters/regex-filter.js';
import type { GenerationDoc, GenerationScores } from '../types.js';

/** The first allowed answer word in the response, or "" (commonsense_evaluate.py's extract_answer). */
export function extractAnswer(response: string, answerPattern: RegExp): string {
  const found = findAll(answerPattern, response.trim());
  const first = found[0];
  return first === undefined ? '' : Array.isArray(first) ? first[0]! : first;
}

export function scoreInstructionAnswers(
  docs: readonly GenerationDoc[],
  responses: readonly string[],
  answerPattern: RegExp,
): GenerationScores {
  let correct = 0;
  const samples = docs.map((doc, i) => {
    const extracted = extractAnswer(responses[i]!, answerPattern);
    const right = extracted === doc.reference;
    if (right) correct += 1;
    return { extracted, correct: right };
  });
  const accuracy = correct / Math.max(1, docs.length);
  return { primary: accuracy, metrics: { accuracy }, samples };
}
