/**
 * The shapes of task data, as loaders produce them: examples of the three task kinds and their splits. The task
 * definitions (`src/tasks/types.ts`) tie each shape to its kind.
 */
import type { ChatMessage } from '../models/tokenizers/hf-tokenizer.js';

export interface ClassificationExample {
  readonly text: string;
  /** The second text of a pair task (RTE's hypothesis, MRPC's second sentence, BoolQ's passage). */
  readonly textPair?: string;
  readonly label: number;
}

export interface ClassificationSplits {
  readonly train: readonly ClassificationExample[];
  readonly dev: readonly ClassificationExample[];
}

/** A fine-tuning example of a generation task: the model learns `target` after `prompt`. */
export interface PromptTarget {
  readonly prompt: string;
  readonly target: string;
  /** Render the prompt as a user turn of the tokenizer's chat template (chat variants of tasks). */
  readonly chat?: boolean;
  /** Chat variants: earlier turns before the prompt's user turn (few-shot examples as a multi-turn conversation). */
  readonly chatHistory?: readonly ChatMessage[];
}

/** One evaluation example of a generation task: what the model is given, and the reference it is scored against. */
export interface GenerationDoc {
  /** The document id (GSM8K: its 0-based index; HumanEval: task_id). */
  readonly id: string;
  readonly prompt: string;
  /** The reference continuation: scored against, and the text whose NLL gives intrinsic robustness. */
  readonly reference: string;
  /** Render the prompt as a user turn of the tokenizer's chat template (chat variants of tasks). */
  readonly chat?: boolean;
  /** Chat variants: earlier turns before the prompt's user turn (few-shot examples as a multi-turn conversation). */
  readonly chatHistory?: readonly ChatMessage[];
  /** What the filtered response is compared with, where it is not the reference (GSM8K CoT: the final number). */
  readonly answer?: string;
  /** Code tasks: the test code and the function it checks (HumanEval's test and entry_point). */
  readonly check?: { readonly test: string; readonly entryPoint: string };
}

export interface GenerationSplits {
  readonly train: readonly PromptTarget[];
  readonly eval: readonly GenerationDoc[];
}

/** One zero-shot multiple-choice question, scored by the log-likelihood of each choice after the context. */
export interface MultipleChoiceDoc {
  readonly id: string;
  readonly context: string;
  /** The choices' texts; each is scored as " " + choice (lm-eval's target delimiter). */
  readonly choices: readonly string[];
  readonly gold: number;
  /**
   * Partial scoring (WinoGrande): each choice is instead a context of its own — `choices[k]` — followed by the same
   * `continuation`, whose log-likelihood decides.
   */
  readonly continuation?: string;
}

export interface MultipleChoiceSplits {
  readonly train: readonly PromptTarget[];
  readonly eval: readonly MultipleChoiceDoc[];
}

/** The splits of any task kind. */
export type AnySplits = ClassificationSplits | GenerationSplits | MultipleChoiceSplits;
