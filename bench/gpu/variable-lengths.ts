/**
 * bench/gpu/variable-lengths: fineTune's LoRA steps (r 8 on every linear layer) on rows of a real task's lengths
 * (task-lengths.ts's JSON: SST-2's in the kit; random tokens, every token a target), each batch padded to a multiple
 * of 16 with the rows grouped by length, then to its longest row, with every step recorded (MCEVAL_WEBGPU_REPLAY=off)
 * and with steps replayed (`on`): the wall and main-thread CPU milliseconds per step (the mean over the epoch's steps
 * after the first: the shapes vary, so no middle stands for them), the steps replayed, and whether the two runs' losses
 * are the same. What the replays save where a run's batches change shape, as on real data; the kit's other steps are
 * of one shape. JSON; each shaping also as a line on stderr as it ends (a run cut off keeps those).
 *
 * Usage: node variable-lengths.mjs --lengths FILE [--model builtin:medium] [--batch 16] [--steps 100]
 */
import { readFileSync } from 'node:fs';
import { initEngine } from '../../src/engine/backends.js';
import { loadModel } from '../../src/models/load.js';
import { argument } from '../options.js';
import { sameLosses, timedEpoch, type BatchShaping } from './trainer-steps.js';

const modelSpec = argument('model', 'builtin:medium');
const batch = Number(argument('batch', '16'));
const steps = Number(argument('steps', '100'));
const source = JSON.parse(readFileSync(argument('lengths', 'sst2-lengths.json'), 'utf8')) as {
  readonly task: string;
  readonly lengths: readonly number[];
};
const lengths = source.lengths.slice(0, batch * steps);

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

await initEngine('webgpu');
const { model } = loadModel(modelSpec);
const results = [];
try {
  const shapings: readonly BatchShaping[] = [{ padToMultipleOf: 16, groupByLength: true }, {}];
  for (const shaping of shapings) {
    const recorded = await timedEpoch(model, lengths, batch, 'lora', 'off', shaping);
    const replayed = await timedEpoch(model, lengths, batch, 'lora', 'on', shaping);
    const cpu =
      recorded.cpuIntervals === undefined || replayed.cpuIntervals === undefined
        ? {}
        : { recordedCpuMsPerStep: mean(recorded.cpuIntervals), replayedCpuMsPerStep: mean(replayed.cpuIntervals) };
    const result = {
      task: source.task,
      model: modelSpec,
      batch,
      steps: recorded.losses.length,
      padToMultipleOf: shaping.padToMultipleOf ?? 1,
      groupByLength: shaping.groupByLength === true,
      recordedMsPerStep: mean(recorded.intervals),
      replayedMsPerStep: mean(replayed.intervals),
      ...cpu,
      replayed: replayed.replayed,
      sameLosses: sameLosses(recorded, replayed),
    };
    console.error(JSON.stringify({ finished: 'variable lengths', value: result }));
    results.push(result);
  }
} finally {
  model.dispose();
}
console.log(JSON.stringify({ variableLengths: results }, null, 2));
process.exit(0);
