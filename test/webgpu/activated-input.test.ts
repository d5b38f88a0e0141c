/**
 * Off the tape (scoring, generation), a low-rank layer that reads an activation of its input reads it inside its
 * forward product on webgpu (engine/ops/activated-low-rank-linear.ts's activatedLowRankLinear): an encoder's output
 * projections GELU, a decoder's down projections SwiGLU's gating. After two training steps of LoRA, DoRA (its column
 * scale as factors of B) and MonteCLoRA on a tiny RoBERTa classifier and on builtin:tiny, an evaluation pass's hidden
 * states are the same bits as with the activation formed first (MCEVAL_WEBGPU_ACTIVATIONS=apart), with the
 * activation's kernel never called and one dispatch fewer per layer — with the narrow products inside the products
 * and apart (MCEVAL_WEBGPU_INLINE_NARROW=never), for 2 × 16 tokens (on tiles) and 1 × 8 (the few-rows shader). No
 * tensor is left behind (withTinySteps).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Method } from '../../bench/gpu/step-methods.js';
import type { Model } from '../../src/models/model.js';
import { withEvaluationContext } from '../../src/models/forward-context.js';
import { SWIGLU } from '../../src/engine/kernels/webgpu/swiglu.js';
import { GELU } from '../../src/engine/kernels/webgpu/gelu.js';
import { withEnv } from '../helpers.js';
import { tinyEncoder } from '../tiny-encoder.js';
import { measuredForward, type MeasuredForward } from './dispatches.js';
import { withTinySteps } from './tiny-steps.js';

/** A model of each kind: its maker and the kernel of the activation its feed-forward layers read. */
const MODELS = [
  { label: 'a tiny RoBERTa', made: (): Model => tinyEncoder('roberta', { seed: 2 }), kernel: GELU },
  { label: 'builtin:tiny', made: undefined, kernel: SWIGLU },
] as const;

/**
 * The hidden states of an evaluation pass of `model` over batch × length tokens from seed 5, its dispatches and its
 * calls of the activation's kernel `kernel`.
 */
async function evaluated(
  model: Model,
  kernel: string,
  [batch, length]: readonly [number, number],
): Promise<MeasuredForward> {
  const ids = Int32Array.from({ length: batch * length }, (_, i) => 1 + ((i * 7 + 5) % (model.config.vocabSize - 1)));
  const input = { batchSize: batch, length, ids, mask: new Int32Array(batch * length).fill(1) };
  return withEvaluationContext((context) => measuredForward(kernel, () => model.hiddenStates(input, context)));
}

const SHAPES = [
  { label: '2 × 16 tokens', shape: [2, 16] },
  { label: '1 × 8 tokens (few rows)', shape: [1, 8] },
] as const;

for (const { label, made, kernel } of MODELS)
  for (const method of ['lora', 'dora', 'monteclora'] satisfies Method[])
    test(`${label}, ${method}: an evaluation pass reads the activation inside, the same bits a dispatch a layer fewer`, () =>
      withTinySteps(
        method,
        async (run, model) => {
          // B leaves zero: the update's products count in the values.
          for (let step = 0; step < 2; step++) await run.step();
          const layers = model.config.numHiddenLayers;
          for (const inline of ['auto', 'never'] as const)
            for (const { label: shapeLabel, shape } of SHAPES)
              await withEnv('MCEVAL_WEBGPU_INLINE_NARROW', inline, async () => {
                const where = `narrow products ${inline === 'auto' ? 'inside' : 'apart'}, ${shapeLabel}`;
                const inside = await evaluated(model, kernel, shape);
                const apart = await withEnv('MCEVAL_WEBGPU_ACTIVATIONS', 'apart', () =>
                  evaluated(model, kernel, shape),
                );
                assert.equal(apart.calls, layers, `${where}: apart, the activation each layer`);
                assert.equal(inside.calls, 0, `${where}: the activation's kernel is not called`);
                assert.equal(inside.dispatches, apart.dispatches - layers, `${where}: a dispatch a layer fewer`);
                assert.deepEqual(inside.values, apart.values, `${where}: the same bits`);
              });
        },
        made,
      ));
