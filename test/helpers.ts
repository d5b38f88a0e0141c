import { before, describe } from 'node:test';
import { spawnSync } from 'node:child_process';
import { packagePath } from '../src/paths.js';
import { initEngine } from '../src/engine/backends.js';
import { tf, type Variable } from '../src/engine/tf.js';
import { newVariable } from '../src/engine/variables.js';
import { AdamW } from '../src/train/adamw.js';
import { Rng } from '../src/engine/rng.js';
import type { Model } from '../src/models/model.js';
import { classificationHeadGroup, type AppliedAdapter, type TrainingHooks } from '../src/peft/types.js';
import { fineTune, type EncodedExample, type TrainResult } from '../src/train/fine-tune.js';
import type { MonteCloraConfig } from '../src/peft/monteclora/config.js';
import { MonteCloraLayer } from '../src/peft/monteclora/layer.js';
import { drawLayerNoise } from '../src/peft/monteclora/noise.js';
import { loadModel } from '../src/models/load.js';
import { loraMethod } from '../src/peft/lora/index.js';
import type { LoraConfig } from '../src/peft/lora/config.js';

/** Tests compute on wasm, the backend users get here; MCEVAL_TEST_BACKEND=cpu runs them on the other. */
export async function useTestBackend(): Promise<string> {
  const choice = await initEngine((process.env['MCEVAL_TEST_BACKEND'] as 'wasm' | 'cpu' | undefined) ?? 'wasm');
  return choice.tfName;
}

/** Defines the same tests once per local backend (wasm and cpu): kernels and gradients differ between them. */
export function onEachBackend(define: () => void): void {
  for (const backend of ['wasm', 'cpu'] as const) {
    describe(`on ${backend}`, () => {
      before(() => initEngine(backend));
      define();
    });
  }
}

export { withEnv } from './with-env.js';

/** Runs `body` and asserts it left no tensor behind. */
export async function withoutLeaks<T>(
  body: () => T | Promise<T>,
): Promise<{ value: T; before: number; after: number }> {
  const before = tf.memory().numTensors;
  const value = await body();
  return { value, before, after: tf.memory().numTensors };
}

export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** The cells of a results.csv but its wall-clock column (train_seconds), header first: what must repeat exactly. */
export function metricColumns(csv: string): string[][] {
  const [header, ...rows] = csv
    .trim()
    .split('\n')
    .map((line) => line.split(','));
  const time = header!.indexOf('train_seconds');
  return [header!, ...rows].map((cells) => cells.filter((_, i) => i !== time));
}

/** results.csv's cells but train_seconds and `left` columns, header first. */
export function columnsBut(csv: string, left: readonly string[]): string[][] {
  const [header, ...rows] = metricColumns(csv);
  const kept = header!.map((name) => !left.includes(name));
  return [header!, ...rows].map((cells) => cells.filter((_, i) => kept[i]));
}

/** The CLI as users run it: a real process (`node bin/run.js ARGS`), its exit code and both streams. */
export function mceval(args: readonly string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [packagePath('bin', 'run.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Variables with the given shapes and initial values, each in its own group (learning-rate multiplier 1 + i, so that
 * every parameter has its own coefficients), and an AdamW over them (weight decay 0.1), by its one-kernel update (its
 * moment banks at most `momentBankElements` long, if given) or by tfjs ops: the two sides of the AdamW kernel tests.
 */
export function adamwFixture(
  shapes: readonly number[][],
  initial: readonly Float32Array[],
  fusedKernel: boolean,
  momentBankElements?: number,
) {
  // Each variable alone holds its buffer, as a model's do (webgpu may then update it in place).
  const variables = initial.map((values, i) => newVariable(() => tf.tensor(values, shapes[i]), true));
  const groups = variables.map((variable, i) => ({
    name: `p${i}`,
    variables: [variable],
    learningRateMultiplier: 1 + i,
  }));
  const bank = momentBankElements === undefined ? {} : { momentBankElements };
  return { variables, optimizer: new AdamW(groups, { weightDecay: 0.1, fusedKernel, ...bank }) };
}

/** Each parameter's m and v, read from the optimizer's private state (its own or its bank's share). */
export async function adamwMoments(optimizer: AdamW): Promise<Float32Array[]> {
  const slots = (optimizer as unknown as { slots: { parameter: Variable; m: Variable; v: Variable; offset: number }[] })
    .slots;
  const read = async (bank: Variable, offset: number, size: number) => (await bank.data()).slice(offset, offset + size);
  const pairs = await Promise.all(
    slots.map(async (slot) =>
      Promise.all([slot.m, slot.v].map((bank) => read(bank as Variable, slot.offset, slot.parameter.size))),
    ),
  );
  return pairs.flat() as Float32Array[];
}

/**
 * Four AdamW steps of both sides of `adamwFixture` with the same random gradients (the second parameter has none at
 * the third step; the second and fourth steps scale them by a clipping coefficient of 0.37), `afterStep` run after
 * each.
 */
export async function adamwSteps(
  sides: readonly { optimizer: AdamW }[],
  shapes: readonly number[][],
  rng: Rng,
  afterStep: (step: number) => void | Promise<void> = () => {},
): Promise<void> {
  for (let step = 0; step < 4; step++) {
    const gradients = shapes.map((shape, i) =>
      step === 2 && i === 1 ? undefined : tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape),
    );
    const scale = step % 2 === 1 ? tf.scalar(0.37) : undefined;
    sides.forEach(({ optimizer }) => optimizer.apply(gradients, 0.003, scale));
    gradients.forEach((g) => g?.dispose());
    scale?.dispose();
    await afterStep(step);
  }
}

/**
 * Two epochs of batch 4 (four AdamW steps over eight examples: lr 0.01, decay 0.01, no warm-up, clipping at 1, Rng(5))
 * of an adapter and the model's classification head: the short fine-tuning run that tests compare across backends and
 * micro-batch counts. `hooks`: the adapter's, or a test's around them; `epochs`: a longer or shorter run.
 */
export function fineTuneAdapterAndHead(
  model: Model,
  adapter: AppliedAdapter,
  examples: readonly EncodedExample[],
  gradientAccumulation: number,
  hooks: TrainingHooks = adapter,
  epochs = 2,
): Promise<TrainResult> {
  return fineTune({
    model,
    groups: [...adapter.groups, classificationHeadGroup(model)],
    examples,
    learningRate: 0.01,
    batchSize: 4,
    epochs,
    weightDecay: 0.01,
    warmupRatio: 0,
    maxGradNorm: 1,
    rng: new Rng(5),
    hooks,
    gradientAccumulation,
  });
}

/**
 * One epoch of LoRA (`config`) on builtin:tiny with a two-class head over eight made-up examples of growing length (lr
 * 0.01, no decay or warm-up, clipping at 1, Rng(2)): the run whose memory peaks the tests compare. `between`: the
 * bytes tfjs's tensors held just before training.
 */
export async function tinyClassifierRun(
  config: LoraConfig,
  batchSize: number,
  gradientAccumulation = 1,
): Promise<{ result: TrainResult; between: number }> {
  const { model, tokenizer } = loadModel('builtin:tiny');
  model.addClassificationHead(2);
  const adapter = loraMethod.apply(model, config, new Rng(1));
  const examples = Array.from({ length: 8 }, (_, i) => ({
    ids: tokenizer.encode(`an example of ${'some length '.repeat(4 + i)}`),
    label: i % 2,
  }));
  try {
    const between = tf.memory().numBytes;
    const result = await fineTune({
      model,
      groups: adapter.groups,
      examples,
      learningRate: 0.01,
      batchSize,
      epochs: 1,
      weightDecay: 0,
      warmupRatio: 0,
      maxGradNorm: 1,
      rng: new Rng(2),
      gradientAccumulation,
    });
    return { result, between };
  } finally {
    adapter.dispose();
    model.dispose();
  }
}

/**
 * MonteCLoRA layer `l` of a test, in → out: its weights from Rng(10 + l), its noise drawn once from Rng(40 + l), so
 * that every sampling forward draws the same values (two runs, or two backends, sample alike).
 */
export function fixedNoiseLayer(cfg: MonteCloraConfig, inFeatures: number, outFeatures: number, l: number) {
  const noise = drawLayerNoise(new Rng(40 + l), {
    components: cfg.components,
    inFeatures,
    rank: cfg.r,
    outerSamples: cfg.outerSamples,
    mixture: 'normal',
  });
  return new MonteCloraLayer(inFeatures, outFeatures, cfg, new Rng(10 + l), () => noise);
}
