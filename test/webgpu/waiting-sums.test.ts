/**
 * A weight-gradient call's second pass waits (MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS=later; kernels/webgpu/waiting-sums.ts)
 * and runs inside the next call's first dispatch, or alone when one of its gradients is first asked for — read,
 * bound by another call, or disposed. Against wasm's composed ops (within 1e-5) and `now` (each second pass by its own
 * dispatch at once; bit for bit), the dispatches counted: calls of one layer each (whose pass fits beside the next
 * one's at WebGPU's default eight storage buffers too); a result read between two calls; results disposed unread; a
 * call that reads the one before it; a call whose shader cannot bind the waiting pass; then training steps (LoRA on
 * builtin:small and on an encoder, MonteCLoRA, DoRA with dropout, the tokens split into chunks): the same losses, and at
 * sixteen storage buffers one second pass alone a step where `now` runs four a decoder layer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor2D } from '../../src/engine/tf.js';
import { layersWeightGradients } from '../../src/engine/ops/low-rank-weight-gradients.js';
import { productPlan } from '../../src/engine/kernels/webgpu/weight-gradients-wgsl.js';
import { sumsWaiting } from '../../src/engine/kernels/webgpu/waiting-sums.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import type { Method } from '../../bench/gpu/step-methods.js';
import { loadModel } from '../../src/models/load.js';
import type { Model } from '../../src/models/model.js';
import { randomEncoder } from '../../bench/random-encoder.js';
import { keepThreshold } from '../../src/engine/dropout-bits.js';
import { drawKey } from '../../src/engine/counter-hash.js';
import { normalMatrices } from './random-matrix.js';
import { assertAgree } from './agreement.js';
import { dispatchesOf } from './dispatches.js';
import { withTinySteps } from './tiny-steps.js';
import { withEnv } from '../helpers.js';

const SETTING = 'MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS';
const gpu = () => tf.backend() as unknown as WebGpuBackendLike;
/** The recorded commands submitted: tfjs releases the buffers of tensors they use only then. */
const submitted = () => (tf.backend() as unknown as { submitRecorded(): void }).submitRecorded();
/** Bytes of GPU buffers in use (tfjs-webgpu's count). */
const gpuBytes = () => (tf.memory() as unknown as { numBytesInGPU: number }).numBytesInGPU;

/** One layer's operands over `tokens`: x [tokens, 64] (or `x`), rank 8, an output of 40, a mask, dB's scale. */
function layerOperands(rng: Rng, tokens: number, x?: Tensor2D, dyScale = 1.5) {
  const matrix = normalMatrices(rng);
  const inFeatures = x?.shape[1] ?? 64;
  return {
    x: x ?? matrix(tokens, inFeatures),
    dDown: matrix(tokens, 8),
    down: matrix(tokens, 8),
    dy: matrix(tokens, 40),
    dyScale,
    dropout: { hash: { key: drawKey(rng.nextUint32()), threshold: keepThreshold(0.8), scale: 1 / 0.8 } },
  };
}

type Operands = ReturnType<typeof layerOperands>;

const gradientsOf = ({ x, ...layer }: Operands) => layersWeightGradients(x, [layer])[0]!;
const operandTensors = ({ x, dDown, down, dy }: Operands) => [x, dDown, down, dy];

/**
 * Three single-layer calls over 200 tokens (split into chunks; dB's scales 1.5, 2.5, 3.5), `between` run after each:
 * their gradients' values, the weight-gradient dispatches the calls recorded before anything was read, and those of
 * the reads.
 */
async function threeCalls(between: (gradients: Tensor2D[]) => Promise<unknown> | undefined = () => undefined) {
  await initEngine('webgpu');
  assert.ok(productPlan(64, 8, 200).splits > 1, 'the tokens are split: a second pass');
  const rng = new Rng(5);
  const operands = [0, 1, 2].map((i) => layerOperands(rng, 200, undefined, 1.5 + i));
  const gradients: Tensor2D[] = [];
  const betweenReads: (Promise<unknown> | undefined)[] = [];
  const calls = dispatchesOf('McevalWeightGradient', () => {
    for (const layer of operands) {
      const made = gradientsOf(layer);
      gradients.push(...made);
      betweenReads.push(between(made));
    }
  });
  await Promise.all(betweenReads);
  let reading: Promise<Float32Array[]> | undefined;
  // A read asks the tensorMap for its tensor before its first await: the pass runs then.
  const reads = dispatchesOf('McevalWeightGradient', () => {
    reading = Promise.all(gradients.map((g) => g.data() as Promise<Float32Array>));
  });
  const values = await reading!;
  tf.dispose([...gradients, ...operands.flatMap(operandTensors)]);
  return { values, calls, reads };
}

/** threeCalls' gradients on wasm (the composed ops): a reference no buffer left in tfjs-webgpu's pool can match. */
async function threeCallsOnWasm(): Promise<Float32Array[]> {
  await initEngine('wasm');
  const rng = new Rng(5);
  const operands = [0, 1, 2].map((i) => layerOperands(rng, 200, undefined, 1.5 + i));
  const values: Float32Array[] = [];
  for (const layer of operands)
    for (const gradient of gradientsOf(layer)) {
      values.push((await gradient.data()) as Float32Array);
      gradient.dispose();
    }
  tf.dispose(operands.flatMap(operandTensors));
  return values;
}

test('each call carries the second pass of the one before; the last runs when its gradients are read', async () => {
  const expected = await threeCallsOnWasm();
  const later = await threeCalls();
  const now = await withEnv(SETTING, 'now', () => threeCalls());
  later.values.forEach((values, i) => {
    assertAgree(`gradient ${i}`, Array.from(values), Array.from(expected[i]!), 1e-5);
    assert.deepEqual(values, now.values[i], `gradient ${i}: the same bits`);
  });
  assert.deepEqual([now.calls, now.reads], [6, 0], 'now: two dispatches a call');
  assert.deepEqual([later.calls, later.reads], [3, 1], 'later: a dispatch a call, and the last pass when read');
  assert.equal(sumsWaiting(gpu()), false);
});

test('a gradient read between two calls runs its pass alone first, and the next call carries none', async () => {
  const expected = await threeCallsOnWasm();
  const later = await threeCalls(([dA]) => dA!.data());
  later.values.forEach((values, i) => assertAgree(`gradient ${i}`, Array.from(values), Array.from(expected[i]!), 1e-5));
  assert.deepEqual([later.calls, later.reads], [6, 0]);
});

test('gradients disposed unread leave no pass waiting and no buffer behind', async () => {
  await initEngine('webgpu');
  const rng = new Rng(7);
  const operands = layerOperands(rng, 200);
  // A first call read, so that the operands are on the GPU before the bytes are counted.
  const first = gradientsOf(operands);
  await Promise.all(first.map((g) => g.data()));
  tf.dispose(first);
  submitted();
  const before = { tensors: tf.memory().numTensors, bytes: gpuBytes() };
  const gradients = gradientsOf(operands);
  assert.equal(sumsWaiting(gpu()), true, 'the second pass waits');
  const disposal = dispatchesOf('McevalWeightGradientSums', () => tf.dispose(gradients));
  assert.equal(disposal, 1, 'disposing a gradient runs its pass first (its buffer is then released, not reused)');
  assert.equal(sumsWaiting(gpu()), false);
  submitted();
  assert.deepEqual({ tensors: tf.memory().numTensors, bytes: gpuBytes() }, before);
  tf.dispose(operandTensors(operands));
});

test("a call that reads the gradient before it gets that gradient's values", async () => {
  // The second call's x is the first call's dA [64, 8]: 64 tokens of 8 features.
  const chained = async () => {
    await initEngine('webgpu');
    const rng = new Rng(9);
    const first = layerOperands(rng, 200);
    const [dA, dB] = gradientsOf(first);
    const second = layerOperands(rng, 64, dA);
    const [dA2, dB2] = gradientsOf(second);
    const values = await Promise.all([dA2!, dB2!, dB!].map((g) => g.data() as Promise<Float32Array>));
    const { x, ...rest } = second;
    tf.dispose([dA2!, dB2!, dB!, x, ...operandTensors(first), rest.dDown, rest.down, rest.dy]);
    return values;
  };
  const now = await withEnv(SETTING, 'now', chained);
  const later = await chained();
  later.forEach((values, i) => assert.deepEqual(values, now[i], `gradient ${i}: the same bits`));
});

test('a call whose shader cannot bind the waiting pass leaves it to run alone, with the same values', async () => {
  // One layer, then four reading one x: at 16 storage buffers the four bind 14 (x, 3 a layer, the partials), leaving
  // 2 for a pass that needs 3; at 8 they go in runs of two, each binding all 8.
  const calls = async () => {
    const rng = new Rng(13);
    const single = layerOperands(rng, 200);
    const shared = [0, 1, 2, 3].map(() => layerOperands(rng, 200, single.x));
    const gradients: Tensor2D[] = [];
    const dispatches = dispatchesOf('McevalWeightGradient', () => {
      gradients.push(...gradientsOf(single));
      gradients.push(...layersWeightGradients(single.x, shared).flat());
    });
    const values = await Promise.all(gradients.map((g) => g.data() as Promise<Float32Array>));
    tf.dispose([...gradients, ...operandTensors(single), ...shared.flatMap((layer) => operandTensors(layer).slice(1))]);
    return { values, dispatches };
  };
  await initEngine('wasm');
  const expected = await calls();
  await initEngine('webgpu');
  const later = await calls();
  later.values.forEach((values, i) =>
    assertAgree(`gradient ${i}`, Array.from(values), Array.from(expected.values[i]!), 1e-5),
  );
  const buffers = storageBuffersPerShader(gpu());
  if (buffers >= 16) assert.equal(later.dispatches, 3, "each call's first pass, and the first call's second alone");
});

interface Stepped {
  readonly losses: number[];
  /** Per step: the second passes run alone, and every dispatch. */
  readonly alone: number;
  readonly dispatches: number;
}

/** Three steps of `method` (2 × 64 tokens: chunks of 32), the last two counted. */
const stepped = (method: Method, made?: () => Model): Promise<Stepped> =>
  withTinySteps(
    method,
    async (run) => {
      const losses = [await run.step()];
      let alone = 0;
      let dispatches = 0;
      for (let step = 0; step < 2; step++) {
        let finished: Promise<number> | undefined;
        dispatches += dispatchesOf('', () => {
          alone += dispatchesOf('McevalWeightGradientSums', () => (finished = run.step()));
        });
        losses.push(await finished!);
      }
      return { losses, alone: alone / 2, dispatches: dispatches / 2 };
    },
    made,
    [2, 64],
  );

const SMALL = () => loadModel('builtin:small').model;
const ENCODER = () => randomEncoder({ layers: 2, hidden: 64, heads: 2, vocabSize: 300, maxLength: 80 });

for (const [label, method, made, decoderLayers] of [
  ['LoRA on builtin:small', 'lora', SMALL, 4],
  ['MonteCLoRA on builtin:tiny', 'monteclora', undefined, 2],
  ['DoRA with dropout on builtin:tiny', 'dora', undefined, 2],
  ['LoRA with dropout on an encoder', 'lora-dropout', ENCODER, 0],
] as const) {
  test(`training steps, ${label}: the same losses with the sums later, fewer dispatches`, async () => {
    const now = await withEnv(SETTING, 'now', () => stepped(method, made));
    const later = await stepped(method, made);
    assert.deepEqual(later.losses, now.losses, 'the same losses, bit for bit');
    assert.ok(now.alone > 1, `now: a second pass each call (${now.alone})`);
    assert.ok(later.alone < now.alone, `later: fewer alone (${later.alone} of ${now.alone})`);
    assert.equal(later.dispatches, now.dispatches - (now.alone - later.alone), 'each carried pass a dispatch fewer');
    if (storageBuffersPerShader(gpu()) >= 16 && decoderLayers > 0) {
      assert.equal(now.alone, 4 * decoderLayers, 'now: four calls a decoder layer');
      assert.equal(later.alone, 1, 'later: only the last call of the step runs its pass alone');
    }
  });
}
