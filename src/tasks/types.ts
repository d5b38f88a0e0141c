/** What a task is: data plus the metrics that score it. One generic evaluator runs every task of a kind. */

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
  load(): ClassificationSplits;
}

export type Task = ClassificationTask;
