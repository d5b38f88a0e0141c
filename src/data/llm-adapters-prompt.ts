/**
 * LLM-Adapters' instruction format (AGI-Edgerunners/LLM-Adapters: finetune.py's generate_prompt): the Alpaca-style
 * prompt, fine-tuning pairs prompt → output, and evaluation docs whose reference is the record's `answer`.
 */
import type { InstructionExample } from './loaders/llm-adapters.js';
import type { GenerationDoc, PromptTarget } from './examples.js';

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
