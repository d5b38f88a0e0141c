/**
 * What a task is: its data source plus how it is prompted and scored. Each task has a kind, and `TaskKinds` ties the
 * kind to the task's type and its data's type, so code that holds a task with its data (`LoadedTask`) never casts.
 */
import type { DataSource } from '../data/source.js';
import type { ClassificationSplits, GenerationDoc, GenerationSplits, MultipleChoiceSplits } from '../data/examples.js';

export type {
  ClassificationExample,
  ClassificationSplits,
  GenerationDoc,
  GenerationSplits,
  MultipleChoiceDoc,
  MultipleChoiceSplits,
  PromptTarget,
} from '../data/examples.js';

interface TaskBase<Splits> extends DataSource<Splits> {
  readonly description: string;
  /** Tokens kept per training example (longer ones are truncated). */
  readonly maxLength: number;
}

export interface ClassificationTask extends TaskBase<ClassificationSplits> {
  readonly kind: 'classification';
  readonly labels: readonly string[];
  /** Metrics reported beside accuracy and NLL (GLUE's F1 for MRPC and QQP, MCC for CoLA). */
  readonly extraMetrics?: readonly ('f1' | 'mcc')[];
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
export interface GenerationTask extends TaskBase<GenerationSplits> {
  readonly kind: 'generation';
  readonly maxNewTokens: number;
  readonly stopSequences: readonly string[];
  /** Scores the responses (one per doc, already cut at the stop sequences). */
  score(docs: readonly GenerationDoc[], responses: readonly string[]): Promise<GenerationScores>;
  /**
   * Scores several sampled responses per doc (code tasks: pass@k for the k the count allows); tasks without it
   * are scored on each doc's first response.
   */
  scoreSamples?(docs: readonly GenerationDoc[], responses: readonly (readonly string[])[]): Promise<GenerationScores>;
}

/** A task scored as lm-eval scores multiple choice (acc, acc_norm), after causal-LM fine-tuning on prompt → target. */
export interface MultipleChoiceTask extends TaskBase<MultipleChoiceSplits> {
  readonly kind: 'multiple-choice';
}

/** How generation tasks decode in a run: greedy by default; `samples` > 1 draws that many per doc. */
export interface DecodingSettings {
  readonly samples: number;
  readonly temperature: number;
  readonly topP: number;
  readonly seed: number;
}

/** Every task kind, with the type of its tasks and of their data. A new kind is one entry here and one runner. */
export interface TaskKinds {
  readonly classification: { readonly task: ClassificationTask; readonly data: ClassificationSplits };
  readonly generation: { readonly task: GenerationTask; readonly data: GenerationSplits };
  readonly 'multiple-choice': { readonly task: MultipleChoiceTask; readonly data: MultipleChoiceSplits };
}

export type TaskKind = keyof TaskKinds;
export type TaskOf<K extends TaskKind> = TaskKinds[K]['task'];
export type DataOf<K extends TaskKind> = TaskKinds[K]['data'];
export type Task = TaskOf<TaskKind>;
export type TaskData = DataOf<TaskKind>;

/** A task with its data, typed together: narrowing `kind` (or indexing a table by it) narrows both. */
export type LoadedTask<K extends TaskKind = TaskKind> = {
  [P in K]: { readonly kind: P; readonly task: TaskOf<P>; readonly data: DataOf<P> };
}[K];
