/** What a task is: data plus the metrics that score it. One generic evaluator runs every task of a kind. */
import type { ChatMessage } from '../models/tokenizers/hf-tokenizer.js';
import type { HubSource } from './hub-export.js';

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

export interface ClassificationTask {
  readonly name: string;
  readonly description: string;
  readonly kind: 'classification';
  readonly labels: readonly string[];
  /** Tokens kept per example (longer ones are truncated). */
  readonly maxLength: number;
  /** Metrics reported beside accuracy and NLL (GLUE's F1 for MRPC and QQP, MCC for CoLA). */
  readonly extraMetrics?: readonly ('f1' | 'mcc')[];
  /** The files the task reads under --data, for messages and `data verify`. */
  readonly dataFiles?: readonly string[];
  /** Loads train and dev; `dataDir` is --data (or $MCEVAL_DATA), undefined when neither is given. */
  load(dataDir: string | undefined): ClassificationSplits;
  /** Reads Hugging Face exports of the data (hub/<repo>/<config>/<split> under --data) when the canonical files are absent. */
  readonly hub?: HubSource<ClassificationSplits>;
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

export interface GenerationScores {
  /** The metric the robustness table reports (exact match, pass@1). */
  readonly primary: number;
  /** Every metric by name ("exact_match,strict-match", "pass@1", …). */
  readonly metrics: Readonly<Record<string, number>>;
  /** One record per doc: filtered predictions and correctness (GSM8K), verdicts (code) — for --log-samples. */
  readonly samples: readonly Readonly<Record<string, unknown>>[];
}

/** A task scored on generated text: fine-tuned as a causal LM on prompt → target, evaluated by greedy generation. */
export interface GenerationTask {
  readonly name: string;
  readonly description: string;
  readonly kind: 'generation';
  /** Tokens kept per training example (prompt + target). */
  readonly maxLength: number;
  readonly maxNewTokens: number;
  readonly stopSequences: readonly string[];
  readonly dataFiles?: readonly string[];
  load(dataDir: string | undefined): GenerationSplits;
  /** Reads Hugging Face exports of the data (hub/<repo>/<config>/<split> under --data) when the canonical files are absent. */
  readonly hub?: HubSource<GenerationSplits>;
  /** Scores the responses (one per doc, already cut at the stop sequences). */
  score(docs: readonly GenerationDoc[], responses: readonly string[]): Promise<GenerationScores>;
  /**
   * Scores several sampled responses per doc (code tasks: pass@k for the k the count allows); tasks without it
   * are scored on each doc's first response.
   */
  scoreSamples?(docs: readonly GenerationDoc[], responses: readonly (readonly string[])[]): Promise<GenerationScores>;
}

/** How generation tasks decode in a run: greedy by default; `samples` > 1 draws that many per doc. */
export interface DecodingSettings {
  readonly samples: number;
  readonly temperature: number;
  readonly topP: number;
  readonly seed: number;
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

/** A task scored as lm-eval scores multiple choice (acc, acc_norm), after causal-LM fine-tuning on prompt → target. */
export interface MultipleChoiceTask {
  readonly name: string;
  readonly description: string;
  readonly kind: 'multiple-choice';
  /** Tokens kept per training example. */
  readonly maxLength: number;
  readonly dataFiles?: readonly string[];
  load(dataDir: string | undefined): MultipleChoiceSplits;
  /** Reads Hugging Face exports of the data (hub/<repo>/<config>/<split> under --data) when the canonical files are absent. */
  readonly hub?: HubSource<MultipleChoiceSplits>;
}

export type Task = ClassificationTask | GenerationTask | MultipleChoiceTask;
export type TaskData = ClassificationSplits | GenerationSplits | MultipleChoiceSplits;
