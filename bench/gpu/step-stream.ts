/**
 * bench/gpu/step-stream: whether two consecutive training steps of one shape hand Dawn the same commands — the same
 * pipelines, bind groups, workgroup counts, copies and queue writes into the same buffers, nothing made anew — and
 * which writes carry new bytes, by the kernel that reads them (src/engine/replay/command-capture.ts): what replaying a
 * recorded step would have to write before it issued the rest again. Two steps of each method after `--warm` (3) to
 * warm up, each method on a model of its own. Prints JSON.
 *
 * Usage: bash scripts/with-software-webgpu.sh node dist/bench/gpu/step-stream.js [--model builtin:tiny]
 *   [--method lora,lora-dropout,dora,monteclora,full] [--batch 2] [--length 16] [--warm 3]
 */
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { argument } from '../options.js';
import { captureCommands, streamSummary } from '../../src/engine/replay/command-capture.js';
import { stepper, type Method } from './step-methods.js';

const modelSpec = argument('model', 'builtin:tiny');
const methods = argument('method', 'lora,lora-dropout,dora,monteclora,full').split(',') as Method[];
const [batch, length, warm] = ['batch', 'length', 'warm'].map((name, i) =>
  Number(argument(name, ['2', '16', '3'][i]!)),
);

await initEngine('webgpu');
const capture = captureCommands(tf.backend());
const results: Record<string, unknown> = {};
try {
  for (const method of methods) {
    const { model } = loadModel(modelSpec);
    const run = stepper(model, batch!, length!, 3, method);
    try {
      for (let step = 0; step < warm!; step++) await run.step();
      const streams = [];
      for (let step = 0; step < 2; step++) {
        capture.begin();
        await run.step();
        streams.push(capture.take());
      }
      results[method] = streamSummary(capture, streams[0]!, streams[1]!);
    } finally {
      run.dispose();
      model.dispose();
    }
  }
} finally {
  capture.stop();
}
console.log(JSON.stringify({ model: modelSpec, batch, length, steps: results }, null, 2));
