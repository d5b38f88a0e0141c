/**
 * What the sweep needs to know about a task kind, as one runner per kind: how its data is cut for quick runs, what
 * the model trains besides the adapter, how training examples are encoded, how a trained model is evaluated, and
 * what --log-samples records. The sweep looks the runner up by the task's kind and never branches on it.
 */
import type { Rng } from '../engine/rng.js';
import type { DataLimits } from '../data/limit.js';
import type { PromptTarget } from '../data/examples.js';
import type { ClassificationScores } from '../evaluation/classification.js';
import type { GenerationEvaluation } from '../evaluation/generation.js';
import type { MultipleChoiceEvaluation } from '../evaluation/multiple-choice.js';
import type { Model } from '../models/model.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import type { ParameterGroup } from '../peft/types.js';
import type { DataOf, DecodingSettings, TaskKind, TaskOf } from '../tasks/types.js';
import type { EncodedExample, TrainingObjective } from '../train/fine-tune.js';

/** Each kind's evaluation result, before it becomes a row. */
export interface KindScores {
  readonly classification: ClassificationScores;
  readonly generation: GenerationEvaluation;
  readonly 'multiple-choice': MultipleChoiceEvaluation;
}

/** The metric columns of a run's row. */
export interface RunMetrics {
  readonly accuracy: number;
  readonly nll: number;
  readonly f1?: number;
  readonly mcc?: number;
  readonly metrics?: Readonly<Record<string, number>>;
}

export interface EvaluationSettings {
  /** Generation tasks: greedy when absent. */
  readonly decoding?: DecodingSettings;
  /** Sequences per batch (the evaluation's default when absent). */
  readonly batchSize?: number | undefined;
}

export interface TaskRunner<K extends TaskKind> {
  readonly objective: TrainingObjective;
  /** --limit, --train-limit and --train-file applied to the kind's splits. */
  limit(data: DataOf<K>, limits: DataLimits): DataOf<K>;
  /** Sequences evaluated together where --eval-batch-size does not say (and auto's size off webgpu). */
  readonly evalBatchSize: number;
  /** How many examples the kind evaluates on. */
  evaluationSize(data: DataOf<K>): number;
  /** The prompt → target pairs the kind fine-tunes on (pooled by --train-mixture); undefined if it has none. */
  promptTargets(data: DataOf<K>): readonly PromptTarget[] | undefined;
  /** Adds what trains beside the adapter (the classification head), before the adapter is injected; its groups. */
  prepareModel(model: Model, task: TaskOf<K>, rng: Rng): readonly ParameterGroup[];
  /** `model`: how it reads its inputs (an encoder's sentence pairs) and how long they may be. */
  encodeTraining(tokenizer: TextTokenizer, task: TaskOf<K>, data: DataOf<K>, model: Model): EncodedExample[];
  evaluate(
    model: Model,
    tokenizer: TextTokenizer,
    task: TaskOf<K>,
    data: DataOf<K>,
    settings: EvaluationSettings,
  ): Promise<KindScores[K]>;
  metrics(scores: KindScores[K]): RunMetrics;
  /** --log-samples: one record per evaluated example. */
  sampleRecords(task: TaskOf<K>, data: DataOf<K>, scores: KindScores[K]): Record<string, unknown>[];
}
