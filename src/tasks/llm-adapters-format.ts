/**
 * LLM-Adapters' commonsense setup (AGI-Edgerunners/LLM-Adapters: finetune.py's generate_prompt and
 * commonsense_evaluate.py): the Alpaca-style instruction prompt, fine-tuning on prompt → output, and evaluation by
 * generating a response and extracting the first answer word the task allows ("solution1", "answer3", "option2",
 * "true") — compared with the record's `answer`.
 */
import type { InstructionExample } from './loaders/llm-adapters.js';
import type { GenerationDoc, GenerationScores, PromptTarget } from './types.js';
import { findAll } from './filters/regex-filter.js';

export function llmAdaptersPrompt(example: Pick<InstructionExample, 'instruction' | 'input'>): string {
  if (example.input.trim() !== '') {
    return (
      'Below is an instruction that describes a task, paired with an input that provides further context. ' +
      'Write a response that appropriately completes the request.\n\n' +
      `### Instruction:\n${example.instruction}\n\n### Input:\n${example.input}\n\n### Response:\n`
    );
  }
  return (
    'Below is an instruction that describes a task. Write a response that appropriately completes the request. \n\n' +
    `### Instruction:\n${example.instruction}\n\n### Response:\n`
  );
}

export function instructionPairs(examples: readonly InstructionExample[]): PromptTarget[] {
  return examples.map((example) => ({ prompt: llmAdaptersPrompt(example), target: example.output }));
}

export function instructionDocs(examples: readonly InstructionExample[]): GenerationDoc[] {
  return examples.map((example, index) => ({
    id: String(index),
    prompt: llmAdaptersPrompt(example),
    reference: example.answer,
  }));
}

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
