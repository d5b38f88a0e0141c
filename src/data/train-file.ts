/**
 * --train-file: fine-tuning pairs for generation and multiple-choice tasks from any instruction file (JSONL, one
 * object per line, or a JSON array: LLM-Adapters' commonsense_15k.json, Alpaca) in one of the common layouts —
 * {prompt, completion}; {instruction, input?, output} (Alpaca, LLM-Adapters:
 * rendered with LLM-Adapters' prompt); {problem, solution} (Magicoder-OSS-Instruct). It replaces the task's own
 * training split.
 */
import { UserError } from '../errors.js';
import { readJsonRecords } from './jsonl.js';
import { llmAdaptersPrompt } from './llm-adapters-prompt.js';
import type { PromptTarget } from './examples.js';

export function readTrainingPairs(path: string): PromptTarget[] {
  const expected = '{"prompt", "completion"} or {"instruction", "input"?, "output"} or {"problem", "solution"}';
  const pairs = readJsonRecords(path, expected, 'Pass an existing --train-file.').map(({ value, where }) => {
    const text = (key: string) => (typeof value[key] === 'string' ? (value[key] as string) : undefined);
    if (text('prompt') !== undefined && text('completion') !== undefined) {
      return { prompt: text('prompt')!, target: text('completion')! };
    }
    if (text('instruction') !== undefined && text('output') !== undefined) {
      return {
        prompt: llmAdaptersPrompt({ instruction: text('instruction')!, input: text('input') ?? '' }),
        target: text('output')!,
      };
    }
    if (text('problem') !== undefined && text('solution') !== undefined) {
      return { prompt: `${text('problem')!}\n`, target: text('solution')! };
    }
    throw new UserError(`Malformed row at ${where}: expected ${expected}.`);
  });
  if (pairs.length === 0) throw new UserError(`${path} has no training pairs.`);
  return pairs;
}
