/**
 * DoRA's webgpu kernels against the same ops on wasm (tfjs's): the adapted weight's column norms ‖W + s·A·B‖
 * (McevalAdaptedColumnNorms) and the magnitude scaling y = addend + z ⊙ (m / n − offset) with its gradients for z, m
 * and the addend (McevalMagnitudeScale, McevalMagnitudeScaleGrad), on widths that are not a multiple of a workgroup's
 * columns and over rows that are not a multiple of its lanes; within 1e-5 of the largest value. A DoRA layer's
 * training step on webgpu runs each of them once, under dropout and without; a generation forms each layer's norm once
 * (models/forward-constants.ts), not once per decoding step, a training step once, not once per micro-batch, and an
 * evaluation's or a scoring's call once, not once per batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { initEngine } from '../../src/engine/backends.js';
import { adaptedColumnNorms, adaptedColumnNormsOf } from '../../src/engine/ops/adapted-column-norms.js';
import {
  magnitudeScaled,
  magnitudeScaleGradient,
  magnitudeScaleGradients,
} from '../../src/engine/ops/magnitude-scale.js';
import { ADAPTED_COLUMN_NORMS, normsPerDispatch } from '../../src/engine/kernels/webgpu/adapted-column-norms.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import {
  MAGNITUDE_SCALE,
  MAGNITUDE_SCALE_GRAD,
  magnitudeGradientsPerDispatch,
} from '../../src/engine/kernels/webgpu/magnitude-scale.js';
import { Linear } from '../../src/models/layers/linear.js';
import { DoraLayer } from '../../src/peft/lora/dora.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { assertAgree } from './agreement.js';
import { valuesOn } from './values-on.js';
import { normalMatrices } from './random-matrix.js';
import { withEnvironment } from '../../src/engine/environment-values.js';
import { dispatchesWhile, withKernelCallCounts, withKernelCalls } from './dispatches.js';
import { loadModel } from '../../src/models/load.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { adapterConfigFor } from '../../src/peft/target-aliases.js';
import { causalLmStep } from '../../src/train/synthetic-step.js';
import { generate } from '../../src/generation/generate.js';
import { fineTuneAdapterAndHead } from '../helpers.js';
import { classLogProbabilities } from '../../src/evaluation/classification.js';
import { scoreTokenSpans } from '../../src/generation/score.js';
import type { LlamaModel } from '../../src/models/llama/model.js';
import type { TextTokenizer } from '../../src/models/tokenizers/tokenizer.js';
import type { AppliedAdapter } from '../../src/peft/types.js';

const NORM_SHAPES = [
  [70, 45, 3],
  [300, 100, 8],
] as const;

/** Layers whose norms are formed together: more than a dispatch binds, of several shapes, a rank apart between. */
const GROUPED_SHAPES = [
  [70, 45, 4],
  [300, 100, 4],
  [45, 70, 4],
  [64, 128, 4],
  [33, 7, 4],
  [100, 300, 4],
  [40, 24, 2],
  [24, 40, 4],
] as const;

function* norms(): Iterable<Tensor> {
  const normal = normalMatrices(new Rng(31));
  for (const [rows, columns, rank] of NORM_SHAPES) {
    const [w, a, b] = [normal(rows, columns), normal(rows, rank), normal(rank, columns)];
    yield tf.tidy(() => adaptedColumnNorms(w, a, b, 0.75));
    tf.dispose([w, a, b]);
  }
  const layers = GROUPED_SHAPES.map(([rows, columns, rank], l) => ({
    weight: normal(rows, columns),
    a: normal(rows, rank),
    b: normal(rank, columns),
    scale: 0.5 + l,
  }));
  yield* adaptedColumnNormsOf(layers);
  tf.dispose(layers.flatMap(({ weight, a, b }) => [weight, a, b]));
}

for (const joins of ['copies', 'shaders'])
  test(`webgpu adapted column norms agree with wasm: one layer's, and several layers' in dispatches of as many as bind (joins by ${joins})`, async () => {
    const reference = await valuesOn('wasm', ADAPTED_COLUMN_NORMS, norms);
    await withEnvironment({ MCEVAL_WEBGPU_JOINS: joins }, async () => {
      const { value: candidate, calls } = await withKernelCalls(ADAPTED_COLUMN_NORMS, () =>
        valuesOn('webgpu', ADAPTED_COLUMN_NORMS, norms),
      );
      [...NORM_SHAPES, ...GROUPED_SHAPES].forEach((shape, i) =>
        assertAgree(`norms ${shape.join('×')}`, Array.from(candidate[i]!), Array.from(reference[i]!), 1e-5),
      );
      // One each, then the grouped layers by rank: 6 of rank 4, 1 of rank 2, 1 of rank 4. At 16 buffers five bind
      // with one output joined (cut by copies), four with their own.
      const backend = tf.backend() as unknown as WebGpuBackendLike;
      const most = normsPerDispatch(backend);
      if (storageBuffersPerShader(backend) === 16) assert.equal(most, joins === 'copies' ? 5 : 4);
      assert.equal(calls, NORM_SHAPES.length + Math.ceil(6 / most) + 2);
    });
  });

const SCALE_CASES = [
  { offset: 0, addend: false },
  { offset: 1, addend: true },
] as const;

/** Per case: the output, then the gradients of z, m and (where given) the addend. */
function* scaled(): Iterable<Tensor> {
  const rng = new Rng(32);
  const normal = (shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
  for (const { offset, addend } of SCALE_CASES) {
    const shape = [3, 13, 45];
    const [z, dy, plus] = [normal(shape), normal(shape), normal(shape)];
    const [magnitude, norm] = [normal([45]), tf.tidy(() => tf.add(tf.abs(normal([45])), 0.5))];
    const scale = { magnitude, norms: () => tf.clone(norm) };
    const f = (zs: Tensor, m: Tensor, extra?: Tensor) =>
      tf.sum(tf.mul(magnitudeScaled(zs, { ...scale, magnitude: m }, offset, extra), dy));
    const { value, grads } = tf.valueAndGrads(f)(addend ? [z, magnitude, plus] : [z, magnitude]);
    yield tf.tidy(() => magnitudeScaled(z, scale, offset, addend ? plus : undefined));
    yield* grads;
    tf.dispose([value, z, dy, plus, magnitude, norm]);
  }
}

test('webgpu magnitude scaling agrees with wasm: the output and the gradients of z, m and the addend', async () => {
  const reference = await valuesOn('wasm', MAGNITUDE_SCALE, scaled);
  const candidate = await valuesOn('webgpu', MAGNITUDE_SCALE, scaled);
  const labels = ['y', 'dz', 'dm', 'y + addend', 'dz', 'dm', 'dAddend'];
  assert.equal(candidate.length, labels.length);
  labels.forEach((label, i) =>
    assertAgree(`${label} (${i})`, Array.from(candidate[i]!), Array.from(reference[i]!), 1e-5),
  );
});

/** Scalings over the same 39 rows, widths off the workgroup's 8 columns: more than a dispatch binds at 16 buffers. */
const GRADIENT_WIDTHS = [45, 13, 70, 8, 33] as const;

/** Each scaling's dz, then its dm, by magnitudeScaleGradients at once (`together`) or one by one. */
function* scalingGradients(together: boolean): Iterable<Tensor> {
  const rng = new Rng(34);
  const normal = (shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
  const operands = GRADIENT_WIDTHS.map((width) => ({
    dy: normal([39, width]),
    z: normal([39, width]),
    m: normal([width]),
    n: tf.tidy(() => tf.add(tf.abs(normal([width])), 0.5)),
  }));
  const gradients = together
    ? magnitudeScaleGradients(operands, 1)
    : operands.map(({ dy, z, m, n }) => magnitudeScaleGradient(dy, z, m, n, 1));
  yield* gradients.flat();
  tf.dispose(operands.flatMap(Object.values));
}

for (const joins of ['copies', 'shaders'])
  test(`webgpu magnitude gradients of several scalings agree with wasm in dispatches of as many as bind, the same bits as one a dispatch (joins by ${joins})`, async () => {
    const reference = await valuesOn('wasm', MAGNITUDE_SCALE_GRAD, () => scalingGradients(true));
    await withEnvironment({ MCEVAL_WEBGPU_JOINS: joins }, async () => {
      await initEngine('webgpu');
      const run = (grouped: boolean) =>
        dispatchesWhile([MAGNITUDE_SCALE_GRAD], () =>
          valuesOn('webgpu', MAGNITUDE_SCALE_GRAD, () => scalingGradients(grouped)),
        );
      const { value: candidate, count } = await run(true);
      const { value: single, count: singles } = await run(false);
      // At 16 buffers three bind with their dm joined (cut by copies), two with their own.
      const backend = tf.backend() as unknown as WebGpuBackendLike;
      const most = magnitudeGradientsPerDispatch(backend);
      if (storageBuffersPerShader(backend) === 16) assert.equal(most, joins === 'copies' ? 3 : 2);
      assert.equal(count, Math.ceil(GRADIENT_WIDTHS.length / most));
      assert.equal(singles, GRADIENT_WIDTHS.length);
      GRADIENT_WIDTHS.forEach((width, l) => {
        for (const [k, name] of [
          [2 * l, 'dz'],
          [2 * l + 1, 'dm'],
        ] as const) {
          assertAgree(`${name} ${width}`, Array.from(candidate[k]!), Array.from(reference[k]!), 1e-5);
          assert.ok(
            candidate[k]!.every((value, j) => Object.is(value, single[k]![j])),
            `${name} ${width}: the same bits`,
          );
        }
      });
    });
  });

for (const dropout of [0, 0.2]) {
  test(`a DoRA layer's step on webgpu (dropout ${dropout}) runs the norm and gradient kernels once, the scaling once or inside its product`, async () => {
    await initEngine('webgpu');
    const before = tf.memory().numTensors;
    const rng = new Rng(33);
    const initial = normalMatrices(rng)(40, 24);
    const weight = tf.variable(initial, false);
    initial.dispose();
    const linear = new Linear('test.proj', weight);
    const layer = new DoraLayer(linear, parseLoraConfig({ r: 4, alpha: 8, dropout, targetModules: ['x'] }, 't'), rng);
    linear.adapter = layer;
    const x = tf.tidy(() => normalMatrices(rng)(6, 40));
    const { calls } = await withKernelCallCounts(
      [ADAPTED_COLUMN_NORMS, MAGNITUDE_SCALE, MAGNITUDE_SCALE_GRAD],
      async () => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(linear.forward(x, { training: true, rng: new Rng(5) })),
          [layer.loraA, layer.loraB, layer.magnitude],
        );
        await value.data();
        tf.dispose([value, ...Object.values(grads)]);
      },
    );
    // Under dropout the scaling is inside the product that forms the rest alongside, where the device binds its 9
    // buffers (x, W, A, B, t, the output, the dropped part, m and the norms).
    const binds = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
    const scalings = dropout > 0 && binds >= 9 ? 0 : 1;
    assert.deepEqual(calls, { [ADAPTED_COLUMN_NORMS]: 1, [MAGNITUDE_SCALE]: scalings, [MAGNITUDE_SCALE_GRAD]: 1 });
    [x, weight, ...layer.variables()].forEach((t) => t.dispose());
    assert.equal(tf.memory().numTensors, before);
  });
}

/**
 * How many times `body` formed weight norms on builtin:tiny (a classification head added) with DoRA on q and v, how
 * many magnitude scalings it ran as ops of their own, the number of DoRA layers, and the dispatches that form every
 * layer's norm once (as many layers each as the device binds); no tensor is left behind.
 */
async function normsFormed(
  body: (model: LlamaModel, tokenizer: TextTokenizer, adapter: AppliedAdapter) => Promise<unknown>,
): Promise<{ norms: number; scalings: number; layers: number; everyLayer: number }> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const { model, tokenizer } = loadModel('builtin:tiny');
  model.addClassificationHead(2);
  const config = parseLoraConfig({ r: 4, alpha: 8, useDora: true, targetModules: ['q_proj', 'v_proj'] }, 't');
  const adapter = loraMethod.apply(model, config, new Rng(4));
  const { calls } = await withKernelCallCounts([ADAPTED_COLUMN_NORMS, MAGNITUDE_SCALE], () =>
    body(model, tokenizer, adapter),
  );
  adapter.dispose();
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
  const layers = model.layers.length * 2;
  const everyLayer = Math.ceil(layers / normsPerDispatch(tf.backend() as unknown as WebGpuBackendLike));
  return { norms: calls[ADAPTED_COLUMN_NORMS]!, scalings: calls[MAGNITUDE_SCALE]!, layers, everyLayer };
}

const examplesOf = (tokenizer: TextTokenizer) =>
  ['good', 'bad', 'fine', 'poor', 'nice'].map((text, i) => ({ ids: tokenizer.encode(text), label: i % 2 }));

// Off the tape, each layer's products scale its columns as they write them (engine/ops/column-scales.ts): no scaling
// runs as an op of its own. A training step's do, on the tape, where m takes their gradient.
test("a generation with a DoRA adapter forms each layer's weight norm once, not once per decoding step", async () => {
  const { norms, scalings, everyLayer } = await normsFormed((model, tokenizer) =>
    generate(model, tokenizer, [tokenizer.encode('once upon')], { maxNewTokens: 4, eosTokenIds: [] }),
  );
  assert.equal(norms, everyLayer);
  assert.equal(scalings, 0);
});

test("a DoRA training step forms each layer's weight norm once, however many micro-batches it has", async () => {
  // Two epochs of one batch of 4, in 2 micro-batches: two steps.
  const { norms, scalings, layers, everyLayer } = await normsFormed((model, tokenizer, adapter) =>
    fineTuneAdapterAndHead(model, adapter, examplesOf(tokenizer).slice(0, 4), 2),
  );
  assert.equal(norms, 2 * everyLayer);
  // Each layer's, in each of the two steps' two micro-batches.
  assert.equal(scalings, 4 * layers);
});

test("classification evaluation and continuation scoring with DoRA form each layer's norm once per call", async () => {
  // Batches of 2: three forward passes a call.
  const { norms, scalings, everyLayer } = await normsFormed(async (model, tokenizer) => {
    const examples = examplesOf(tokenizer);
    await classLogProbabilities(model, examples, 2);
    await scoreTokenSpans(
      model,
      examples.map(({ ids }) => ({ ids, from: 1 })),
      2,
    );
  });
  assert.equal(norms, 2 * everyLayer);
  assert.equal(scalings, 0);
});

test('a decoding step with DoRA on every linear layer takes as many dispatches as with LoRA', async () => {
  await initEngine('webgpu');
  const targets = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
  // The dispatches of 4 more decoding steps: what a generation makes once (DoRA's norms and factors) drops out.
  const perStep = async (useDora: boolean) => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    const config = parseLoraConfig({ r: 4, alpha: 8, useDora, targetModules: targets }, 't');
    const adapter = loraMethod.apply(model, config, new Rng(4));
    const dispatches = async (maxNewTokens: number) =>
      (
        await dispatchesWhile([''], () =>
          generate(model, tokenizer, [tokenizer.encode('once upon')], { maxNewTokens, eosTokenIds: [] }),
        )
      ).count;
    try {
      return ((await dispatches(6)) - (await dispatches(2))) / 4;
    } finally {
      adapter.dispose();
      model.dispose();
    }
  };
  const [lora, dora] = [await perStep(false), await perStep(true)];
  assert.ok(lora > 0);
  assert.equal(dora, lora);
});

test('a DoRA step under dropout takes a dispatch a layer fewer than without, its rests alongside, its magnitude gradients together and its gating read inside; apart, two more', async () => {
  await initEngine('webgpu');
  const targets = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
  // A second step's dispatches (the first makes what later ones reuse). Each layer's own: a group's dispatch (q, k
  // and v's without dropout) takes none of a split layer's.
  const stepDispatches = (dropout: number, rests = 'alongside') =>
    withEnvironment({ MCEVAL_WEBGPU_GROUPS: 'never', MCEVAL_WEBGPU_RESTS: rests }, async () => {
      const { model } = loadModel('builtin:tiny');
      const lora = parseLoraConfig({ r: 4, alpha: 8, dropout, useDora: true, targetModules: targets }, 't');
      const run = causalLmStep(model, loraMethod, adapterConfigFor(model, lora), { batch: 2, length: 16, seed: 3 });
      try {
        await run.step();
        return (await dispatchesWhile([''], () => run.step())).count;
      } finally {
        run.dispose();
        model.dispose();
      }
    });
  const layers = loadModel('builtin:tiny').model.layers.length * targets.length;
  const [without, under, apart] = [
    await stepDispatches(0),
    await stepDispatches(0.1),
    await stepDispatches(0.1, 'apart'),
  ];
  // Apart, each layer's rest x_r·W + b, forward and backward; the rest is the unsplit step's (the masks are made where
  // read). Alongside, the rests are formed in the dropped parts' dispatches, and the scaling, which is its own
  // dispatch without dropout, inside the forward's, where the device binds the 10 buffers it takes (with a residual).
  // Their magnitudes' gradients are then formed per op — q, k and v; o; gate and up; down — as many to a dispatch as
  // bind, where without dropout each scaling's gradient is its own; and the down projection reads SwiGLU's gating
  // inside each way (activated-split-linear.ts, at 11 buffers), where without dropout it is formed first, and its
  // gradient.
  assert.equal(apart - without, 2 * layers);
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const most = magnitudeGradientsPerDispatch(backend);
  const gradients = [3, 1, 2, 1].reduce((sum, members) => sum + Math.ceil(members / most), 0);
  const perLayer = layers / targets.length;
  const binds = storageBuffersPerShader(backend);
  const gating = binds >= 11 ? 2 * perLayer : 0;
  if (binds >= 10) assert.equal(without - under, layers + (7 - gradients) * perLayer + gating);
});
