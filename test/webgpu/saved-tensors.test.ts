/**
 * Tensors saved for a backward pass on webgpu (engine/saved-tensors.ts): LoRA (with the presets' dropout) and
 * MonteCLoRA training steps have the same losses, bit for bit, with saved tensors shared as with tfjs's clones, make
 * none of those clones' Identity calls, and leave no tensor behind. Upstream gradients passed on to an input (a
 * residual's, MonteCLoRA's A from A′) are no Identity calls either (engine/ops/multi-output.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Method } from '../../bench/gpu/step-methods.js';
import { withEnv } from '../helpers.js';
import { withKernelCalls } from './dispatches.js';
import { withTinySteps } from './tiny-steps.js';

const steps = (method: Method): Promise<{ losses: number[]; identities: number; layers: number }> =>
  withTinySteps(method, async (run, model) => {
    const first = await run.step();
    const { value, calls } = await withKernelCalls('Identity', async () => [await run.step(), await run.step()]);
    return { losses: [first, ...value], identities: calls / 2, layers: model.config.numHiddenLayers };
  });

for (const method of ['lora-dropout', 'monteclora'] as const)
  test(`a ${method} step's losses are the same bits with saved tensors shared, without their clones`, async () => {
    const shared = await steps(method);
    const cloned = await withEnv('MCEVAL_SAVED_TENSORS', 'cloned', () => steps(method));
    assert.deepEqual(shared.losses, cloned.losses);
    // builtin:tiny's step saves over a hundred tensors; the Identity calls left are the ops' own tf.clone.
    assert.ok(cloned.identities - shared.identities >= 100, `${cloned.identities} → ${shared.identities}`);
  });

for (const method of ['lora-dropout', 'monteclora'] as const)
  test(`a ${method} step's only Identity calls are its RMS norms' passed residual streams`, async () => {
    const { identities, layers } = await steps(method);
    // Each layer's two norms pass their input on as a second output (rms-norm.ts); every gradient is passed on.
    assert.equal(identities, 2 * layers);
  });
