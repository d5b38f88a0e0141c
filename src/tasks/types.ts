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
  /** Metrics reported beside accuracy and NLL (GLUE's F1 for MRPC and QQP, MCC for CoLA). */
  readonly extraMetrics?: readonly ('f1' | 'mcc')[];
  /** The files the task reads under --data, for messages and `data verify`. */
  readonly dataFiles?: readonly string[];
  /** Loads train and dev; `dataDir` is --data (or $MCEVAL_DATA), undefined when neither is given. */
  load(dataDir: string | undefined): ClassificationSplits;
}

export type Task = ClassificationTask;
