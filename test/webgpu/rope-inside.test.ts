/**
 * On webgpu, attention rotates a decoder layer's queries and keys itself where it reads no KV cache and keeps none
 * (engine/kernels/webgpu/attention-rope-wgsl.ts; models/layers/rope.ts's ropeInsideAttention): training steps have the
 * same losses, bit for bit, as with McevalRope rotating them first (MCEVAL_WEBGPU_ROPE=apart), never call McevalRope
 * and record two dispatches fewer per layer; an evaluation pass after them has the same hidden states, one dispatch
 * fewer per layer (where the device binds the gradient's nine storage buffers: at WebGPU's default eight a training
 * step rotates first, and only the evaluation pass rotates inside). LoRA and MonteCLoRA on builtin:tiny (grouped heads of 16 floats: one lane a row); LoRA on
 * builtin:small (heads of 32) with 1, 2 and 8 lanes a row, whose gradients' halves pass between lanes by a shuffle;
 * LoRA on builtin:tiny with attention dropout. The evaluation pass's second row is left-padded. No tensor is left
 * behind (withTinySteps).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Method } from '../../bench/gpu/step-methods.js';
import type { Model } from '../../src/models/model.js';
import { withEvaluationContext } from '../../src/models/forward-context.js';
import { ROPE } from '../../src/engine/kernels/webgpu/rope.js';
import { BUILTIN_MODELS } from '../../src/models/builtin.js';
import { LlamaModel } from '../../src/models/llama/model.js';
import { loadModel } from '../../src/models/load.js';
import { randomWeightInit } from '../../src/models/init.js';
import { Rng } from '../../src/engine/rng.js';
import { webGpuAdapterReport } from '../../src/engine/webgpu.js';
import { subgroupFloor } from '../../src/engine/kernels/webgpu/attention-lanes.js';
import { initEngine } from '../../src/engine/backends.js';
import { withEnv } from '../helpers.js';
import { tf } from '../../src/engine/tf.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { dispatchesOf, measuredForward, withKernelCalls } from './dispatches.js';
import { withTinySteps } from './tiny-steps.js';

interface Trained {
  readonly losses: number[];
  /** McevalRope's calls over the last two steps, and their dispatches each. */
  readonly ropeCalls: number;
  readonly dispatches: number;
  readonly layers: number;
  /** An evaluation pass's hidden states after the steps, its dispatches and McevalRope's calls. */
  readonly evaluation: { values: number[]; dispatches: number; calls: number };
}

/** Three steps of `method` on a fresh model from `made`, measured, then an evaluation pass over 2 × 12 tokens. */
const trained = (method: Method, made?: () => Model): Promise<Trained> =>
  withTinySteps(
    method,
    async (run, model) => {
      const losses = [await run.step()];
      let dispatches = 0;
      const { calls: ropeCalls } = await withKernelCalls(ROPE, async () => {
        for (let step = 0; step < 2; step++) {
          let finished: Promise<number> | undefined;
          dispatches += dispatchesOf('', () => (finished = run.step()));
          losses.push(await finished!);
        }
      });
      const ids = Int32Array.from({ length: 24 }, (_, i) => 1 + ((i * 5 + 3) % (model.config.vocabSize - 1)));
      // Left padding in the second row: its positions count from its first real token.
      const mask = Int32Array.from({ length: 24 }, (_, i) => (i >= 12 && i < 15 ? 0 : 1));
      const input = { batchSize: 2, length: 12, ids, mask };
      const evaluation = await withEvaluationContext((context) =>
        measuredForward(ROPE, () => model.hiddenStates(input, context)),
      );
      return { losses, ropeCalls, dispatches: dispatches / 2, layers: model.config.numHiddenLayers, evaluation };
    },
    made,
  );

/** Both ways under the same lanes setting, and the assertions that they agree. */
async function assertInsideAsApart(label: string, method: Method, made?: () => Model): Promise<void> {
  const inside = await trained(method, made);
  const apart = await withEnv('MCEVAL_WEBGPU_ROPE', 'apart', () => trained(method, made));
  const { layers } = inside;
  // The gradient's shaders bind nine storage buffers with the tables: at WebGPU's default eight, training rotates first.
  const trainsInside = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike) >= 9;
  assert.equal(apart.ropeCalls, 2 * 2 * layers, `${label}: apart, McevalRope each way each layer`);
  assert.equal(inside.ropeCalls, trainsInside ? 0 : apart.ropeCalls, `${label}: McevalRope is not called`);
  const fewer = trainsInside ? 2 * layers : 0;
  assert.equal(inside.dispatches, apart.dispatches - fewer, `${label}: two dispatches a layer fewer`);
  assert.deepEqual(inside.losses, apart.losses, `${label}: the same losses`);
  assert.equal(apart.evaluation.calls, layers, `${label}: evaluation apart, McevalRope each layer`);
  assert.equal(inside.evaluation.calls, 0, `${label}: evaluation, McevalRope is not called`);
  assert.equal(inside.evaluation.dispatches, apart.evaluation.dispatches - layers, `${label}: evaluation dispatches`);
  assert.deepEqual(inside.evaluation.values, apart.evaluation.values, `${label}: the same hidden states`);
}

for (const method of ['lora', 'monteclora'] satisfies Method[])
  test(`builtin:tiny, ${method}: attention rotates q and k inside, the same bits two dispatches a layer fewer`, () =>
    assertInsideAsApart(`builtin:tiny ${method}`, method));

for (const lanes of ['1', '2', '8'])
  test(`builtin:small, lora, ${lanes} lanes a row: attention rotates q and k inside, the same bits`, async (t) => {
    await initEngine('webgpu');
    if (Number(lanes) > subgroupFloor(webGpuAdapterReport())) {
      t.skip(`${lanes} lanes need subgroups of at least that size, which this adapter lacks`);
      return;
    }
    await withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', lanes, () =>
      assertInsideAsApart(`builtin:small, ${lanes} lanes`, 'lora', () => loadModel('builtin:small').model),
    );
  });

test('builtin:tiny with attention dropout, lora: the same bits as rotating first', () =>
  assertInsideAsApart(
    'attention dropout',
    'lora',
    () =>
      new LlamaModel({ ...BUILTIN_MODELS['tiny']!.config, attentionDropout: 0.2 }, randomWeightInit(new Rng(6), 0.05)),
  ));
