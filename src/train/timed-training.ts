/**
 * A fresh training of an adapter on the synthetic step (synthetic-step.ts), timed: two steps to warm up (a setting's
 * shaders compile at its first step), then `steps` timed ones, each awaiting its loss. What `mceval tune` times under
 * each value of a setting. Every training starts from the same weights: the model's own that the step trains (full
 * fine-tuning's, a classifier's head) are copied first and put back after.
 */
import { tf } from '../engine/tf.js';
import { median } from '../metrics/quantile.js';
import type { Model } from '../models/model.js';
import type { AdapterMethod } from '../peft/types.js';
import { causalLmStep, type CausalLmStepSettings } from './synthetic-step.js';
import type { TimedSteps } from '../engine/tuning/tune.js';

export async function timedTraining<Config, M extends Model>(
  model: M,
  method: AdapterMethod<Config>,
  config: Config,
  settings: CausalLmStepSettings<M>,
  steps: number,
): Promise<TimedSteps> {
  const run = causalLmStep(model, method, config, settings);
  // A copy, not a clone: a tensor sharing a parameter's buffer would keep AdamW from updating it in place, as it does
  // in a run.
  const initial = run.parameters.map((parameter) => tf.mul(parameter, 1));
  try {
    const losses = [await run.step(), await run.step()];
    const times: number[] = [];
    for (let step = 0; step < steps; step++) {
      const start = performance.now();
      losses.push(await run.step());
      times.push(performance.now() - start);
    }
    return { msPerStep: median(times), losses };
  } finally {
    run.dispose();
    // The adapter's variables went with it; the model's are put back.
    run.parameters.forEach((parameter, i) => {
      if (!parameter.isDisposed) parameter.assign(initial[i]!);
    });
    tf.dispose(initial);
  }
}
