/**
 * A training step of builtin:tiny (2 × 16 tokens, r 8 on every linear layer: bench/gpu/step-methods.ts) on webgpu with
 * what it hands Dawn captured (src/engine/replay/command-capture.ts), after six steps: the pool gives back what a run
 * before this one left within four reads. The step-stream and step-replay tests run their steps in it.
 */
import { initEngine } from '../../src/engine/backends.js';
import { tf, type Variable } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { captureCommands, type CommandCapture } from '../../src/engine/replay/command-capture.js';
import { stepper, type Method } from '../../bench/gpu/step-methods.js';

const WARM_STEPS = 6;

/**
 * A run of `method` on a builtin:tiny of its own, from one seed, warmed up: `body` is given its step, the capture
 * (stopped afterwards; its shader keys are still read) and the variables the run made, in the order it made them.
 */
export async function inCapturedRun<T>(
  method: Method,
  body: (step: () => Promise<number>, capture: CommandCapture, variables: () => Variable[]) => Promise<T>,
): Promise<T> {
  await initEngine('webgpu');
  const before = new Set(Object.values(tf.engine().registeredVariables));
  const { model } = loadModel('builtin:tiny');
  const run = stepper(model, 2, 16, 3, method);
  const capture = captureCommands(tf.backend());
  try {
    for (let step = 0; step < WARM_STEPS; step++) await run.step();
    const variables = () => Object.values(tf.engine().registeredVariables).filter((variable) => !before.has(variable));
    return await body(() => run.step(), capture, variables);
  } finally {
    capture.stop();
    run.dispose();
    model.dispose();
  }
}
