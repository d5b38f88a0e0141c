/**
 * bench/gpu: mceval's WebGPU backend on a GPU machine (bench/gpu/run.sh starts it from the kit bench/gpu/pack.sh
 * builds). Prints one JSON document:
 *  - the adapter Dawn found (features, limits);
 *  - correctness: three LoRA fine-tuning steps (causal LM, AdamW) from the same seed on webgpu and on cpu — the
 *    largest relative difference of the losses — and the same for a 2-layer RoBERTa classifier (`correctness.encoder`:
 *    bidirectional attention);
 *  - speed: milliseconds and tokens per second of one LoRA step (forward, backward, clipping at global norm 1, AdamW;
 *    r = 8 on every linear layer) on builtin:medium (~99M parameters) and on stories260K, timed over `--steps` steps
 *    after two warm-up steps, each step awaiting its loss;
 *  - the same for a MonteCLoRA step (its KL and cooperative losses included), so the overhead over LoRA shows, for
 *    a LoRA step with the presets' dropout (0.05: a mask per adapted layer, made inside the kernels that read it) and
 *    for a DoRA step as its preset has it (dropout 0.05: two low-rank ops per layer, peft/lora/dora.ts);
 *  - what a dispatch costs the host, call by call (host-calls.ts): Dawn's createBindGroup, a uniforms write, setting a
 *    pipeline and bind group and dispatching, and tfjs's whole path for one small op;
 *  - where did a step's time go: each compute dispatch of one LoRA and one MonteCLoRA step on the `--model` timed
 *    on the GPU (timestamp queries, one compute pass per dispatch), summed by kernel — the GPU's own milliseconds
 *    against the step's wall time says whether a step waits on the GPU or on the host that records its dispatches;
 *  - each step with mceval's WGSL kernels (fused attention, fused low-rank product: `kernels: "mceval"`) and with
 *    tfjs's own composite ops (`kernels: "tfjs"`), with the number of compute dispatches one step records, the
 *    bytes the host writes to the GPU in one step (host-made tensors and tfjs's uniforms) and the host's time to
 *    record and submit a step (`recordingMsPerStep`: where it nears `msPerStep`, the step waits on the host), and
 *    the main thread's CPU time of that (`recordingCpuMsPerStep`, Linux: where it falls short, the recording waited);
 *  - the products a step is made of, alone: TFLOP/s of tfjs's matMul and of mceval's fused low-rank product (rank 8
 *    included, not counted) at rows × inner × columns shapes — 2048³ and builtin:medium's layers for 2,048 tokens —
 *    of a LoRA layer's whole output, with x·A by a dispatch of its own before the product or formed inside it, of
 *    three such layers reading one x in one group dispatch (`groupOfThreeTflops`), and of the product alone with W
 *    and with Wᵀ read, by tfjs's matMul and by mceval's tiles (both widths); mceval's each way its tiles' WGSL is
 *    written (MCEVAL_WEBGPU_PRODUCT_CODE loops and unrolled: `…Unrolled…Tflops`) and with their operands' next inner
 *    indices read ahead (MCEVAL_WEBGPU_PRODUCT_PREFETCH=on: `…Prefetched…Tflops`);
 *  - the LoRA step on the `--model` again with tfjs-webgpu submitting its recorded dispatches every N of them
 *    (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE, tfjs's 15 and mceval's 60 among them; MCEVAL_WEBGPU_SUBMIT_BATCH): a step is
 *    hundreds of dispatches, so how often the queue is submitted may matter on a real GPU, and is one setting to
 *    change if it does;
 *  - the LoRA step and the fused product with 64 × 64 and with 128 × 128 output tiles (MCEVAL_WEBGPU_PRODUCT_TILE),
 *    with the tiles' loops written out and not (MCEVAL_WEBGPU_PRODUCT_CODE unrolled and loops), and with their
 *    operands read ahead and not (MCEVAL_WEBGPU_PRODUCT_PREFETCH on and off; the products at both tiles);
 *  - a LoRA layer's two weight gradients alone, with and without a dropout mask (`--weight-gradients` in × r × out,
 *    builtin:medium's layers at the step's tokens by default; weight-gradients.ts): by tfjs-webgpu's matMul under each
 *    of its programs, and by mceval's kernel, which splits the tokens over workgroups and adds the parts in a fixed
 *    order; then the LoRA step (with and without dropout) each way (MCEVAL_WEBGPU_WEIGHT_GRADIENTS), and the LoRA step
 *    with tfjs's threshold for too few workgroups at each of `--matmul-thresholds` (−1: tfjs's own by GPU, 8 on a
 *    non-Intel one; 8; 64; 512; MCEVAL_WEBGPU_MATMUL_THRESHOLD), which decides the programs of the small products
 *    tfjs still runs (the LM head's at few targets);
 *  - the LoRA (with and without dropout) and MonteCLoRA steps with the narrow products formed inside the layer's
 *    product and by dispatches of their own, and by size (MCEVAL_WEBGPU_INLINE_NARROW always, never and auto);
 *  - the LoRA step with dropout and the MonteCLoRA step with the layers that read one input (q, k, v; gate, up) in one
 *    dispatch each way, and each in its own (MCEVAL_WEBGPU_GROUPS auto and never);
 *  - causal attention alone, forward and backward, at head sizes 64 and 128 (4 × 1024 tokens, 2048 wide, 4 query heads
 *    per KV head) with 1, 2, 4 and 8 lanes per row (MCEVAL_WEBGPU_ATTENTION_LANES, as far as the adapter's subgroups
 *    go): milliseconds, and the largest difference of output and gradients from one lane's (relative to the largest
 *    value) — the lanes' subgroup shuffles checked on the GPU itself; then the LoRA step with one lane and by head size;
 *  - a full fine-tuning step with the products other than the low-rank layers' on mceval's tiles where tfjs reads a
 *    transposed operand, on them all, and on none (MCEVAL_WEBGPU_PRODUCTS transposed, all and tfjs);
 *  - greedy decoding with a LoRA adapter on the `--model` (generation.ts; `--generation` batch × prompt × new tokens,
 *    8 × 32 × 64 by default): tokens per second, milliseconds and dispatches per decoding step, and the bytes the
 *    buffer pool grew by over the generation (its KV cache, made once), with mceval's kernels and with tfjs's ops —
 *    what an evaluation's generation (HumanEval, GSM8K) gets from the card — with a DoRA adapter and with none (the
 *    base model's; mceval's kernels); then LoRA's with a step's products of few rows on the few-rows shader and on
 *    64-row tiles (MCEVAL_WEBGPU_FEW_ROWS 16 and 0);
 *  - the LoRA step and LoRA's decoding with the host waiting on the GPU each way (MCEVAL_WEBGPU_WAIT spin, sleep and
 *    2: Dawn's poll on every turn of the event loop, by timer, or spinning the first 2 ms of a wait), with how many
 *    polls went each way;
 *  - the LoRA and MonteCLoRA steps each awaiting its loss before the next is recorded, and each recorded while the one
 *    before it runs (`pipelinedMsPerStep`), as fineTune overlaps them on webgpu (MCEVAL_WEBGPU_OVERLAP);
 *  - LoRA steps at a sequence length that changes from step to step (as batches padded to their longest sequence
 *    do), with the buffer pool giving back what they stop using (MCEVAL_WEBGPU_POOL's default) and kept whole: the
 *    pool's most bytes and milliseconds per step each way;
 *  - the LoRA and MonteCLoRA steps with bind groups kept by what they bind (and repeated uniform writes left out) and
 *    made (and written) at every dispatch (MCEVAL_WEBGPU_BIND_GROUPS kept and new);
 *  - the LoRA and MonteCLoRA steps with joins and cuts of whole blocks by buffer copies and by shaders
 *    (MCEVAL_WEBGPU_JOINS copies and shaders);
 *  - the LoRA and MonteCLoRA steps with SwiGLU's gating read inside the down projections' kernels and formed apart
 *    (MCEVAL_WEBGPU_ACTIVATIONS inside and apart);
 *  - the DoRA step (its preset's dropout) with each layer's rest formed in its dropped part's products and by products
 *    of its own (MCEVAL_WEBGPU_RESTS alongside and apart);
 *  - the LoRA and MonteCLoRA steps with RoPE inside attention's shaders and by McevalRope first (MCEVAL_WEBGPU_ROPE
 *    inside and apart);
 *  - the LoRA and MonteCLoRA steps with each weight-gradient call's second pass carried by the next call's first
 *    dispatch and by its own (MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS later and now);
 *  - the LoRA and MonteCLoRA steps with attention's dq, dk and dv in one dispatch and in two
 *    (MCEVAL_WEBGPU_ATTENTION_GRADIENT together and apart);
 *  - LoRA and MonteCLoRA classification steps of a RoBERTa-base-shaped encoder (random weights; `--encoder` batch ×
 *    length, 32 × 128 by default, `--encoder-layers` 12, `--encoder-hidden` 768; 0x0 leaves it out): the MonteCLoRA
 *    paper's GLUE setting;
 *  - for each of those three models, LoRA's and MonteCLoRA's steps (mceval's kernels) timed in turn `--rounds` times
 *    (3): their ratio within each round, with nothing run between the two (`pairedSteps`);
 *  - for each of them, the host's CPU profile of LoRA's and MonteCLoRA's step recordings (`--profile-steps` 5 each,
 *    host-profile.ts): the functions that take the most of a step, by their own samples and by all under them, and
 *    those whose time MonteCLoRA's step changes most, each way (`hostProfiles`).
 * What the targets are taken from runs first — each model's steps with mceval's kernels, then the paired rounds — then
 * the profiles (the host's, then the GPU's) and the products alone, the settings' sweeps, and last the steps with
 * tfjs's own ops; each section's line on stderr carries the seconds since the bench began, so a run cut off by the
 * kit's time limit says where.
 *
 * Usage: node bench.js [--stories DIR] [--steps N] [--model builtin:medium] [--batch 8] [--length 256]
 *          [--products 2048x2048x2048,2048x768x768,2048x768x2560,2048x2560x768] [--product-repeats 20]
 *          [--submit-batches 15,60,240] [--weight-gradients 768x8x768,…] [--matmul-thresholds -1,8,64,512]
 *          [--attention 4x1024x2048] [--generation 8x32x64] [--encoder 32x128]
 *          [--encoder-layers 12] [--encoder-hidden 768] [--rounds 3] [--profile-steps 5]
 */
import { tf, type Tensor } from '../../src/engine/tf.js';
import { setupWebGpu } from '../../src/engine/webgpu.js';
import { loadModel } from '../../src/models/load.js';
import type { LlamaModel } from '../../src/models/llama/model.js';
import type { Model } from '../../src/models/model.js';
import { argument } from '../options.js';
import { withEnv } from '../../test/with-env.js';
import { hostCalls } from './host-calls.js';
import { weightGradientTimes } from './weight-gradients.js';
import { dawnPolls } from '../../src/engine/dawn-wait.js';
import { watchPeakGpuBytes } from '../../src/engine/peak-bytes.js';
import { relativeDifference, timePerCall, withFlag } from './time-per-call.js';
import { dispatches, tally, type AnyMethod } from './tally.js';
import { generationSpeed, joinSpeed } from './generation.js';
import { DORA, LORA, stepper, type Method } from './step-methods.js';
import { robertaShaped } from '../random-encoder.js';
import { otherTargetModels } from './target-models.js';
import { functionTimes, largestDifferences, profileRecordings, topFunctions } from './host-profile.js';
import { threadCpuMs } from './thread-clock.js';
import { productRates, withProductCode, withProductPrefetch, withProductTile } from './product-rates.js';
import { registerWebGpuKernels } from '../../src/engine/kernels/register.js';
import { subgroupFloor } from '../../src/engine/kernels/webgpu/attention-lanes.js';
import { AttentionMask, fusedAttention } from '../../src/models/layers/causal-attention.js';
import '@tensorflow/tfjs-backend-cpu';

/**
 * Counts the bytes the host writes to GPU buffers from now on: host-made tensors (webgpu-upload.ts) and tfjs's
 * uniforms both go through queue.writeBuffer (buffer, offset, data, dataOffset?, size?).
 */
const hostWrites = () =>
  tally((tf.backend() as unknown as { queue: Record<string, AnyMethod> }).queue, 'writeBuffer', (args) => {
    const [, , data, , size] = args as [unknown, number, ArrayBufferLike | ArrayBufferView, number?, number?];
    return size ?? data.byteLength;
  });

interface Agreement {
  readonly losses: { webgpu: number[]; cpu: number[] };
  readonly maxRelativeDifference: number;
}

/** Three LoRA steps of the model `make` builds, on cpu then on webgpu from the same seed. */
async function agreement(make: () => Model, batch: number, length: number): Promise<Agreement> {
  const losses: Record<string, number[]> = {};
  for (const backend of ['cpu', 'webgpu']) {
    if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) throw new Error(`cannot switch to ${backend}`);
    const model = make();
    const run = stepper(model, batch, length, 7, 'lora');
    losses[backend] = [await run.step(), await run.step(), await run.step()];
    run.dispose();
    model.dispose();
  }
  const difference = Math.max(
    ...losses['webgpu']!.map((value, i) => Math.abs(value - losses['cpu']![i]!) / Math.abs(losses['cpu']![i]!)),
  );
  return { losses: { webgpu: losses['webgpu']!, cpu: losses['cpu']! }, maxRelativeDifference: difference };
}

/** builtin:small's causal-LM step, and an encoder's classification step (bidirectional attention, padding none). */
async function correctness(): Promise<Agreement & { encoder: Agreement }> {
  const decoder = await agreement(() => loadModel('builtin:small').model, 4, 64);
  const encoder = await agreement(() => robertaShaped(2, 256), 4, 64);
  return { ...decoder, encoder };
}

async function speed(
  name: string,
  model: Model,
  batch: number,
  length: number,
  steps: number,
  method: Method,
  kernels: 'mceval' | 'tfjs',
) {
  registerWebGpuKernels(kernels === 'mceval');
  const parameters = model.variables().reduce((n, v) => n + v.size, 0);
  const run = stepper(model, batch, length, 11, method);
  await run.step();
  const dispatched = dispatches();
  const written = hostWrites();
  await run.step();
  const dispatchesPerStep = dispatched();
  const hostBytesPerStep = written();
  const started = performance.now();
  let recording = 0;
  let recordingCpu = 0;
  for (let i = 0; i < steps; i++) {
    // A step records and submits its dispatches synchronously, then awaits its loss: the first part is host time.
    const stepStarted = performance.now();
    const cpuStarted = threadCpuMs?.() ?? 0;
    const loss = run.step();
    recordingCpu += (threadCpuMs?.() ?? 0) - cpuStarted;
    recording += performance.now() - stepStarted;
    await loss;
  }
  const seconds = (performance.now() - started) / 1000;
  run.dispose();
  const memory = tf.memory() as { numBytes: number; numBytesInGPU?: number };
  return {
    backend: tf.getBackend(),
    method,
    kernels,
    dispatchesPerStep,
    hostBytesPerStep,
    model: name,
    parameters,
    batch,
    length,
    steps,
    msPerStep: (seconds * 1000) / steps,
    recordingMsPerStep: recording / steps,
    // The main thread's CPU time of that: where it falls short of the wall time, the recording waited.
    ...(threadCpuMs === undefined ? {} : { recordingCpuMsPerStep: recordingCpu / steps }),
    tokensPerSecond: (batch * length * steps) / seconds,
    tensorBytes: memory.numBytesInGPU ?? memory.numBytes,
  };
}

/**
 * LoRA's and MonteCLoRA's steps (mceval's kernels) timed in turn, `rounds` times, for their ratio within each round.
 * The single timings above run each method's steps with tfjs's kernels between them: on the H200 (2026-12-04) the
 * RoBERTa shape's MonteCLoRA step came out 1.53× LoRA's that way while builtin:medium's pair, timed four ways in the
 * same run, gave 0.99–1.08×; a ratio taken within rounds says which of those is the method's own.
 */
async function pairedSpeeds(name: string, model: Model, batch: number, length: number, steps: number, rounds: number) {
  const entries = [];
  for (let round = 0; round < rounds; round++)
    for (const method of ['lora', 'monteclora'] as const) {
      const step = await speed(name, model, batch, length, steps, method, 'mceval');
      const { msPerStep, recordingMsPerStep, dispatchesPerStep } = step;
      const cpu = step.recordingCpuMsPerStep === undefined ? {} : { recordingCpuMsPerStep: step.recordingCpuMsPerStep };
      entries.push(
        finished('paired step', {
          model: name,
          round,
          method,
          batch,
          length,
          msPerStep,
          recordingMsPerStep,
          ...cpu,
          dispatchesPerStep,
        }),
      );
    }
  return entries;
}

/**
 * The host's CPU profile of LoRA's and MonteCLoRA's step recordings on a target model (host-profile.ts), `steps` each
 * after two unprofiled: each method's sampled ms a step and the functions that take the most of it (self and
 * inclusive), and the functions whose time MonteCLoRA's step changes most, each way.
 */
async function hostProfile(target: TargetModel, steps: number) {
  registerWebGpuKernels(true);
  const sums: Partial<Record<'lora' | 'monteclora', ReturnType<typeof functionTimes>>> = {};
  for (const method of ['lora', 'monteclora'] as const) {
    const run = stepper(target.model, target.batch, target.length, 11, method);
    try {
      await run.step();
      await run.step();
      sums[method] = functionTimes(await profileRecordings(() => run.step(), steps));
    } finally {
      run.dispose();
    }
  }
  const [lora, monteclora] = [sums.lora!, sums.monteclora!];
  const byMethod = (sum: typeof lora) => ({
    sampledMsPerStep: sum.msPerStep,
    self: topFunctions(sum.self, 25),
    inclusive: topFunctions(sum.inclusive, 40),
  });
  const changes = (first: ReadonlyMap<string, number>, second: ReadonlyMap<string, number>) =>
    largestDifferences(first, second, 25).map((entry) => ({
      function: entry.function,
      lora: entry.first,
      monteclora: entry.second,
      difference: entry.difference,
    }));
  return {
    model: target.name,
    batch: target.batch,
    length: target.length,
    steps,
    lora: byMethod(lora),
    monteclora: byMethod(monteclora),
    monteCloraChanges: {
      self: changes(lora.self, monteclora.self),
      inclusive: changes(lora.inclusive, monteclora.inclusive),
    },
  };
}

/**
 * Steps timed two ways in one run: each awaiting its loss before the next is recorded (as `speed` does), and
 * each recorded while the one before it is still running (its loss awaited after), so the host records one step while
 * the GPU runs the other, as fineTune does on webgpu (MCEVAL_WEBGPU_OVERLAP): what overlapping them gains on this GPU.
 */
async function pipelinedSpeed(model: Model, batch: number, length: number, steps: number, method: Method) {
  registerWebGpuKernels(true);
  const run = stepper(model, batch, length, 11, method);
  await run.step();
  await run.step();
  let started = performance.now();
  for (let i = 0; i < steps; i++) await run.step();
  const msPerStep = (performance.now() - started) / steps;
  started = performance.now();
  let running: Promise<number> | undefined;
  for (let i = 0; i < steps; i++) {
    const next = run.step();
    if (running !== undefined) await running;
    running = next;
  }
  await running;
  const pipelinedMsPerStep = (performance.now() - started) / steps;
  run.dispose();
  return { method, batch, length, steps, msPerStep, pipelinedMsPerStep };
}

/**
 * LoRA steps, two at each of six sequence lengths from `length` down to 3/8 of it, with the buffer pool as
 * MCEVAL_WEBGPU_POOL `setting` keeps it (the default first: the pool then starts as earlier sections left it): the
 * pool's most bytes over them, and milliseconds per step — the cost, where sizes change, of making buffers again.
 */
async function varyingLengthSpeed(model: Model, batch: number, length: number, setting: string | undefined) {
  registerWebGpuKernels(true);
  const lengths = [1, 0.75, 0.5, 0.875, 0.625, 0.375].map((share) => Math.max(8, Math.round(length * share)));
  return withEnv('MCEVAL_WEBGPU_POOL', setting, async () => {
    const watch = watchPeakGpuBytes()!;
    const started = performance.now();
    for (const stepLength of lengths) {
      const run = stepper(model, batch, stepLength, 11, 'lora');
      await run.step();
      await run.step();
      run.dispose();
    }
    const msPerStep = (performance.now() - started) / (2 * lengths.length);
    watch.stop();
    return { pool: setting ?? 'default', batch, lengths, msPerStep, peakGpuBytes: watch.peak };
  });
}

interface ProgramLike {
  readonly shaderKey?: string;
}

/** A kernel's name in the profile: mceval's shaders by their key's first part, tfjs's by class and operation. */
function kernelLabel(program: ProgramLike): string {
  const parts = (program.shaderKey ?? '').split('_');
  // The bundle renames classes (MatMulPackedProgram2): the suffix goes.
  const name = program.constructor.name === 'Object' ? parts[0]! : program.constructor.name.replace(/Program\d*$/, '');
  // tfjs's elementwise programs share a class; their key's second part says which operation (BinaryOpType, …).
  return /^\d+$/.test(parts[1] ?? '') && /^(binary|unary)$/.test(parts[0]!) ? `${name} ${parts[1]}` : name;
}

/**
 * One step with every dispatch timed on the GPU (tfjs-webgpu's timestamp queries, which it takes for each dispatch
 * while `activeTimers` is set — its own tf.time does so for a synchronous function only), summed by kernel.
 */
async function profile(model: LlamaModel, batch: number, length: number, method: 'lora' | 'monteclora') {
  registerWebGpuKernels(true);
  const run = stepper(model, batch, length, 11, method);
  await run.step();
  const backend = tf.backend() as unknown as {
    activeTimers?: { name: string; query: Promise<number> }[] | null;
    recordAndSubmit: (program: ProgramLike, ...rest: unknown[]) => unknown;
  };
  const timers: { name: string; query: Promise<number> }[] = [];
  const saved = backend.activeTimers;
  const record = backend.recordAndSubmit;
  backend.activeTimers = timers;
  backend.recordAndSubmit = (program: ProgramLike, ...rest: unknown[]) => {
    const before = timers.length;
    const result = record.call(backend, program, ...rest);
    if (timers.length > before) timers[timers.length - 1]!.name = kernelLabel(program);
    return result;
  };
  try {
    await run.step();
  } finally {
    backend.activeTimers = saved;
    backend.recordAndSubmit = record;
    run.dispose();
  }
  const times = await Promise.all(timers.map((timer) => timer.query));
  const byKernel = new Map<string, { kernel: string; dispatches: number; ms: number }>();
  timers.forEach(({ name }, i) => {
    const entry = byKernel.get(name) ?? { kernel: name, dispatches: 0, ms: 0 };
    entry.dispatches += 1;
    entry.ms += times[i]!;
    byKernel.set(name, entry);
  });
  const kernels = [...byKernel.values()].sort((a, b) => b.ms - a.ms);
  return {
    method,
    dispatches: timers.length,
    gpuMs: times.reduce((sum, ms) => sum + ms, 0),
    kernels: kernels.slice(0, 25),
  };
}

/**
 * Causal attention's forward and backward at each head size and lane count: ms per call (both passes, over `repeats`
 * calls after two warm-up ones) and the largest difference from one lane's output and q, k, v gradients.
 */
async function attentionLanes(batch: number, length: number, width: number, repeats: number) {
  // Four query heads per KV head at head size 128.
  if (width % 512 !== 0) throw new Error(`--attention: the width ${width} is not a multiple of 512`);
  registerWebGpuKernels(true);
  const floor = subgroupFloor(adapter);
  const results = [];
  for (const headDim of [64, 128]) {
    const heads = { query: width / headDim, keyValue: width / headDim / 4 };
    const [q, k, v] = [heads.query, heads.keyValue, heads.keyValue].map((count, i) =>
      tf.randomNormal([batch, length, count * headDim], 0, 1, 'float32', i + 1),
    ) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
    const mask = new AttentionMask(new Int32Array(batch * length).fill(1), batch, length, length);
    const passes = () =>
      tf.tidy(() => {
        const { value, grads } = tf.valueAndGrads((...inputs: Tensor[]) =>
          tf.sum(
            fusedAttention(inputs[0] as tf.Tensor3D, inputs[1] as tf.Tensor3D, inputs[2] as tf.Tensor3D, mask, heads),
          ),
        )([q, k, v]);
        value.dispose();
        return [fusedAttention(q, k, v, mask, heads), ...grads];
      });
    let reference: Float32Array[] | undefined;
    for (const lanes of [1, 2, 4, 8].filter((count) => count <= floor)) {
      const measured = await withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', String(lanes), async () => {
        const outputs = passes();
        const values = (await Promise.all(outputs.map((t) => t.data()))) as Float32Array[];
        tf.dispose(outputs);
        const seconds = await timePerCall(() => {
          const all = passes();
          tf.dispose(all.slice(1));
          return all[0]!;
        }, repeats);
        return { values, seconds };
      });
      reference ??= measured.values;
      const difference = Math.max(...measured.values.map((array, i) => relativeDifference(array, reference![i]!)));
      results.push({ headDim, lanes, msPerCall: measured.seconds * 1000, maxRelativeDifference: difference });
    }
    tf.dispose([q, k, v]);
  }
  return results;
}

/** Each section also goes to stderr as it finishes, so a run cut off by its time limit still leaves what it measured. */
const benchStarted = performance.now();

/** Prints a section's value as it finishes, with the seconds since the bench began (what each section costs). */
function finished<T>(section: string, value: T): T {
  const seconds = Math.round((performance.now() - benchStarted) / 100) / 10;
  console.error(JSON.stringify({ finished: section, seconds, value }));
  return value;
}

const adapter = finished('adapter', await setupWebGpu({ allowFallback: true }));
registerWebGpuKernels(true);
const check = finished('correctness', await correctness());
if (!(await tf.setBackend('webgpu'))) throw new Error('cannot switch to webgpu');
// Newer than the other sections and run before them: a failure here is reported, not the end of the run.
const calls = finished(
  'host calls',
  await hostCalls().catch((error: unknown) => ({ error: error instanceof Error ? error.message : String(error) })),
);
tf.env().set('PROD', true);
const steps = Number(argument('steps', '10'));
const modelSpec = argument('model', 'builtin:medium');
const length = Number(argument('length', '256'));
const batch = Number(argument('batch', '8'));
const results = [];
const { model: medium, tokenizer } = loadModel(modelSpec);
/** A model the targets are taken on, with its step's batch and length and the methods timed on it. */
interface TargetModel {
  readonly name: string;
  readonly model: Model;
  readonly batch: number;
  readonly length: number;
  readonly methods: readonly Method[];
}
const targetModels: TargetModel[] = [
  { name: modelSpec, model: medium, batch, length, methods: ['lora', 'monteclora', 'lora-dropout', 'dora'] },
  ...otherTargetModels(length).map(({ load, ...spec }) => ({
    ...spec,
    model: load(),
    methods: ['lora', 'monteclora'] as const,
  })),
];
// What the targets are taken from comes first, so that a run cut off by the kit's time limit still has it: each
// model's steps with mceval's kernels, then LoRA's and MonteCLoRA's in turn, round after round. tfjs's own ops come
// last (seconds a step on the RoBERTa shape; a step timed after them may pay for what they left).
for (const target of targetModels)
  for (const method of target.methods)
    results.push(
      finished('step', await speed(target.name, target.model, target.batch, target.length, steps, method, 'mceval')),
    );
const rounds = Number(argument('rounds', '3'));
const pairedSteps = [];
for (const target of targetModels)
  pairedSteps.push(...(await pairedSpeeds(target.name, target.model, target.batch, target.length, steps, rounds)));
// Where the host's time recording those steps goes, function by function, on this machine's CPU.
const profileSteps = Number(argument('profile-steps', '5'));
const hostProfiles = [];
for (const target of targetModels) hostProfiles.push(finished('host profile', await hostProfile(target, profileSteps)));
const profiles = [];
for (const method of ['lora', 'monteclora'] as const)
  profiles.push(
    finished('profile', { model: modelSpec, batch, length, ...(await profile(medium, batch, length, method)) }),
  );
// The products alone: the tiles' rate, what a GPU-bound step is made of.
const shapes = argument('products', '2048x2048x2048,2048x768x768,2048x768x2560,2048x2560x768')
  .split(',')
  .map((shape) => shape.split('x').map(Number) as [number, number, number]);
const products = finished('products', await productRates(shapes, Number(argument('product-repeats', '20'))));
const submitBatches = [];
for (const dispatchesPerSubmit of argument('submit-batches', '15,60,240').split(',').map(Number)) {
  const { msPerStep, tokensPerSecond } = await withFlag('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', dispatchesPerSubmit, () =>
    speed(modelSpec, medium, batch, length, steps, 'lora', 'mceval'),
  );
  submitBatches.push(finished('submit batch', { dispatchesPerSubmit, msPerStep, tokensPerSecond }));
}
const productTiles = [];
for (const tile of ['64', '128'] as const) {
  const { msPerStep, tokensPerSecond } = await withProductTile(tile, () =>
    speed(modelSpec, medium, batch, length, steps, 'lora', 'mceval'),
  );
  productTiles.push(finished('product tile', { tile: Number(tile), msPerStep, tokensPerSecond }));
}
const productCodeSteps = [];
for (const setting of ['loops', 'unrolled'] as const) {
  const { msPerStep, tokensPerSecond } = await withProductCode(setting, () =>
    speed(modelSpec, medium, batch, length, steps, 'lora', 'mceval'),
  );
  productCodeSteps.push(finished('product code step', { setting, msPerStep, tokensPerSecond }));
}
const productPrefetchSteps = [];
for (const setting of ['off', 'on'] as const) {
  const { msPerStep, tokensPerSecond } = await withProductPrefetch(setting, () =>
    speed(modelSpec, medium, batch, length, steps, 'lora', 'mceval'),
  );
  productPrefetchSteps.push(finished('product prefetch step', { setting, msPerStep, tokensPerSecond }));
}
// The weight gradients alone, by each of tfjs's matMul programs and by mceval's split kernel, then the LoRA step
// each way; then with tfjs's threshold of "too few 32 × 32 tiles" (8 on a non-Intel GPU) raised, so that the small
// products tfjs still runs take its split-K or small-tile programs.
const weightGradients = finished(
  'weight gradients',
  await weightGradientTimes(
    argument('weight-gradients', '768x8x768,768x8x2560,2560x8x768')
      .split(',')
      .map((shape) => shape.split('x').map(Number) as [number, number, number]),
    batch * length,
    Number(argument('product-repeats', '20')),
  ),
);
/** The step of each method under each value of an engine setting (`label` names the section's lines). */
async function stepsBySetting(label: string, name: string, settings: readonly string[], methods: readonly Method[]) {
  const results = [];
  for (const method of methods)
    for (const setting of settings) {
      const { msPerStep, tokensPerSecond, dispatchesPerStep } = await withEnv(name, setting, () =>
        speed(modelSpec, medium, batch, length, steps, method, 'mceval'),
      );
      results.push(finished(label, { method, setting, msPerStep, tokensPerSecond, dispatchesPerStep }));
    }
  return results;
}
const weightGradientSteps = await stepsBySetting(
  'weight gradients step',
  'MCEVAL_WEBGPU_WEIGHT_GRADIENTS',
  ['split', 'tfjs'],
  ['lora', 'lora-dropout'],
);
// The narrow products x·A and s·dy·Bᵀ formed inside the layer's product, or by dispatches of their own: the setting's
// `auto` picks by the product's size, which this (and `products`' two inline columns) is to settle on a GPU. auto is
// timed here too, beside the other two, rather than compared with steps timed minutes before.
const inlineSteps = await stepsBySetting(
  'inline narrow step',
  'MCEVAL_WEBGPU_INLINE_NARROW',
  ['auto', 'always', 'never'],
  ['lora', 'lora-dropout', 'monteclora'],
);
// The layers that read one x in one dispatch each way, or each its own (MCEVAL_WEBGPU_GROUPS): a group saves
// dispatches and reads each member's buffers through a switch, which only a GPU can weigh. Two methods only (LoRA as
// the presets have it, with dropout, and MonteCLoRA), to keep the sections after it within the kit's time.
const groupSteps = await stepsBySetting(
  'group step',
  'MCEVAL_WEBGPU_GROUPS',
  ['auto', 'never'],
  ['lora-dropout', 'monteclora'],
);
const matmulThresholds = [];
for (const threshold of argument('matmul-thresholds', '-1,8,64,512').split(',').map(Number)) {
  const { msPerStep, tokensPerSecond } = await withFlag(
    'WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL',
    threshold,
    () => speed(modelSpec, medium, batch, length, steps, 'lora', 'mceval'),
  );
  matmulThresholds.push(finished('matmul threshold', { threshold, msPerStep, tokensPerSecond }));
}
const [attentionBatch, attentionLength, attentionWidth] = argument('attention', '4x1024x2048').split('x').map(Number);
const attention = finished(
  'attention lanes',
  await attentionLanes(attentionBatch!, attentionLength!, attentionWidth!, Number(argument('product-repeats', '20'))),
);
const attentionSteps = [];
for (const lanes of ['1', undefined]) {
  const { msPerStep, tokensPerSecond } = await withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', lanes, () =>
    speed(modelSpec, medium, batch, length, steps, 'lora', 'mceval'),
  );
  attentionSteps.push(finished('attention lanes step', { lanes: lanes ?? 'by head size', msPerStep, tokensPerSecond }));
}
// Which products run on mceval's tiles rather than tfjs's matMul (MCEVAL_WEBGPU_PRODUCTS): a full fine-tuning step
// has three per layer: its output x·W, its input gradient dy·Wᵀ (transposed right) and its weight gradient xᵀ·dy
// (transposed left). It trains the model's own weights: the steps on it after this one (tfjs's, last) time the same
// work on other values.
const productSteps = await stepsBySetting(
  'products step',
  'MCEVAL_WEBGPU_PRODUCTS',
  ['transposed', 'all', 'tfjs'],
  ['full'],
);
const [generationBatch, generationPrompt, generationTokens] = argument('generation', '8x32x64').split('x').map(Number);
const generation = [];
const generationShape = { batch: generationBatch!, prompt: generationPrompt!, tokens: generationTokens! };
for (const kernels of ['mceval', 'tfjs'] as const)
  generation.push(
    finished('generation', await generationSpeed(modelSpec, medium, tokenizer, LORA, generationShape, kernels)),
  );
// DoRA's decoding: each layer's product scaled per column, its weight norm formed once per generation.
generation.push(
  finished('generation', await generationSpeed(modelSpec, medium, tokenizer, DORA, generationShape, 'mceval')),
);
// The base model's decoding, no adapter (its plain layers' products, norms read inside where rows are few).
generation.push(
  finished('generation', await generationSpeed(modelSpec, medium, tokenizer, undefined, generationShape, 'mceval')),
);
// A decoding step's products on the few-rows shader, or on 64-row tiles as before it (MCEVAL_WEBGPU_FEW_ROWS).
const fewRowsGeneration = [];
for (const setting of ['16', '0']) {
  const { msPerStep, tokensPerSecond, dispatchesPerStep } = await withEnv('MCEVAL_WEBGPU_FEW_ROWS', setting, () =>
    generationSpeed(modelSpec, medium, tokenizer, LORA, generationShape, 'mceval'),
  );
  fewRowsGeneration.push(finished('few rows generation', { setting, msPerStep, tokensPerSecond, dispatchesPerStep }));
}
// Decoding at several batch sizes (`--eval-batch-size`): where a step waits on its dispatches, not on arithmetic, its
// time hardly grows with its rows and tokens per second rise with the batch.
const generationBatches = [];
for (const rows of [8, 16, 32, 64]) {
  const shape = { ...generationShape, batch: rows };
  const { msPerStep, tokensPerSecond, dispatchesPerStep } = await generationSpeed(
    modelSpec,
    medium,
    tokenizer,
    LORA,
    shape,
    'mceval',
  );
  generationBatches.push(finished('generation batch', { batch: rows, msPerStep, tokensPerSecond, dispatchesPerStep }));
}
// Prompts waiting for a generation's batch joining it under way (continuous batching) or once it has emptied
// (MCEVAL_GENERATION_JOIN), rows stopping at different steps as HumanEval's samples do: fewer steps against more rows
// a step and the joinings' prompt passes and cache copies.
const [joinRows, joinBatch] = argument('join', '64x16').split('x').map(Number);
const generationJoins = [];
for (const join of ['under-way', 'emptied'] as const) {
  const shape = { rows: joinRows!, batch: joinBatch!, prompt: generationPrompt!, tokens: generationTokens! };
  generationJoins.push(finished('generation join', await joinSpeed(medium, tokenizer, LORA, shape, join)));
}
// How the host waits on the GPU (MCEVAL_WEBGPU_WAIT, dawn-wait.ts): Dawn's poll on every turn of the event loop, by
// a 1 ms timer, or spinning for the first 2 ms of each wait — a training step waits once at its end, a decoding step
// once per token, which is where a timer's late wake-up would show.
const waitSteps = [];
const waitGeneration = [];
for (const setting of ['spin', 'sleep', '2']) {
  const polled = dawnPolls();
  const step = await withEnv('MCEVAL_WEBGPU_WAIT', setting, () =>
    speed(modelSpec, medium, batch, length, steps, 'lora', 'mceval'),
  );
  const decoding = await withEnv('MCEVAL_WEBGPU_WAIT', setting, () =>
    generationSpeed(modelSpec, medium, tokenizer, LORA, generationShape, 'mceval'),
  );
  const { spun, slept } = dawnPolls();
  const polls = { spun: spun - polled.spun, slept: slept - polled.slept };
  waitSteps.push(finished('wait step', { setting, msPerStep: step.msPerStep, tokensPerSecond: step.tokensPerSecond }));
  waitGeneration.push(
    finished('wait generation', {
      setting,
      msPerStep: decoding.msPerStep,
      tokensPerSecond: decoding.tokensPerSecond,
      polls,
    }),
  );
}
const pipelinedSteps = [];
for (const method of ['lora', 'monteclora'] as const)
  pipelinedSteps.push(
    finished('pipelined step', { model: modelSpec, ...(await pipelinedSpeed(medium, batch, length, steps, method)) }),
  );
const poolSteps = [];
for (const setting of [undefined, 'keep'])
  poolSteps.push(finished('pool steps', await varyingLengthSpeed(medium, batch, length, setting)));
// A bind group kept by what it binds, over a pool handing buffers out in a fixed order, or made at every dispatch as
// tfjs does, the uniform writes with them (MCEVAL_WEBGPU_BIND_GROUPS): 28 µs of host time a dispatch on the H200's
// host, whose steps wait on it.
const bindGroupSteps = await stepsBySetting(
  'bind groups step',
  'MCEVAL_WEBGPU_BIND_GROUPS',
  ['kept', 'new'],
  ['lora', 'monteclora'],
);
// Joins and cuts of whole blocks (stacks along the first axis, a gradient norm's concatenation) as buffer copies or as
// shaders (MCEVAL_WEBGPU_JOINS): a MonteCLoRA step stacks its factors and their gradients, 11–28 dispatches by shaders.
const joinSteps = await stepsBySetting(
  'joins step',
  'MCEVAL_WEBGPU_JOINS',
  ['copies', 'shaders'],
  ['lora', 'monteclora'],
);
// SwiGLU's gating read inside a trained down projection's kernels, or formed apart (MCEVAL_WEBGPU_ACTIVATIONS; an
// encoder's GELU likewise): two dispatches a layer fewer (host time) against the gating formed in three kernels' loads
// (GPU time).
const activationSteps = await stepsBySetting(
  'activation step',
  'MCEVAL_WEBGPU_ACTIVATIONS',
  ['inside', 'apart'],
  ['lora', 'monteclora'],
);
// DoRA's rests under dropout in their dropped parts' products, or by a product each way of their own
// (MCEVAL_WEBGPU_RESTS): two dispatches a layer fewer and x read once (host time) against a second set of accumulators
// and a third tile a workgroup (registers and workgroup memory: GPU time). DoRA as its preset has it (dropout 0.05).
const restSteps = await stepsBySetting('rests step', 'MCEVAL_WEBGPU_RESTS', ['alongside', 'apart'], ['dora']);
// RoPE inside attention's shaders, or by McevalRope first (MCEVAL_WEBGPU_ROPE): two dispatches a layer fewer (host
// time) against q and k rotated at each of their loads, keys once per workgroup of rows (GPU time).
const ropeSteps = await stepsBySetting('rope step', 'MCEVAL_WEBGPU_ROPE', ['inside', 'apart'], ['lora', 'monteclora']);
// A weight-gradient call's second pass in the next call's first dispatch, or by its own
// (MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS): three dispatches a decoder layer fewer (host time), the same work on the GPU.
const weightGradientSumSteps = await stepsBySetting(
  'weight gradient sums step',
  'MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS',
  ['later', 'now'],
  ['lora', 'monteclora'],
);
// Attention's dq, dk and dv in one dispatch, or dq's then dk's and dv's (MCEVAL_WEBGPU_ATTENTION_GRADIENT): a dispatch
// a layer fewer (host time) against each row's D summed again by every workgroup of keys (GPU time).
const attentionGradientSteps = await stepsBySetting(
  'attention gradient step',
  'MCEVAL_WEBGPU_ATTENTION_GRADIENT',
  ['together', 'apart'],
  ['lora', 'monteclora'],
);
// Last: the same steps with tfjs's own ops, what mceval's kernels are measured against.
for (const target of targetModels)
  for (const method of ['lora', 'monteclora'] as const)
    results.push(
      finished('step', await speed(target.name, target.model, target.batch, target.length, steps, method, 'tfjs')),
    );
for (const target of targetModels) target.model.dispose();
console.log(
  JSON.stringify(
    {
      node: process.version,
      adapter,
      correctness: check,
      hostCalls: calls,
      steps: results,
      profiles,
      products,
      submitBatches,
      productTiles,
      productCodeSteps,
      productPrefetchSteps,
      weightGradients,
      weightGradientSteps,
      inlineSteps,
      groupSteps,
      bindGroupSteps,
      joinSteps,
      activationSteps,
      restSteps,
      ropeSteps,
      weightGradientSumSteps,
      attentionGradientSteps,
      matmulThresholds,
      attention,
      attentionSteps,
      productSteps,
      generation,
      fewRowsGeneration,
      generationBatches,
      generationJoins,
      waitSteps,
      waitGeneration,
      pipelinedSteps,
      poolSteps,
      pairedSteps,
      hostProfiles,
    },
    null,
    2,
  ),
);
process.exit(0);
