/**
 * bench/gpu/targets.ts, which turns the kit's measurements into the GPU trainer's targets: which PyTorch step a webgpu
 * step is held against (same model, dropout, batch and length), the ratios and their verdicts, and reading the steps
 * from a whole webgpu.json or from the section lines of a run cut off by its time limit; and, from the kit's sweeps,
 * which value of each engine setting was fastest and whether that beats mceval's default by more than noise; and
 * which evaluation batch decoded fastest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addSeparateRuns,
  gpuTargets,
  readSections,
  readSteps,
  settingChoices,
  evaluationBatchChoice,
  hostProfileSummary,
  torchSteps,
  type PairedStep,
  type PipelinedStep,
  type ReplayedStep,
  type TorchStep,
  type WebGpuStep,
} from '../bench/gpu/targets.js';

const step = (overrides: Partial<WebGpuStep>): WebGpuStep => ({
  model: 'builtin:medium',
  method: 'lora',
  kernels: 'mceval',
  batch: 8,
  length: 256,
  msPerStep: 30,
  recordingMsPerStep: 12,
  dispatchesPerStep: 920,
  ...overrides,
});

const STEPS = [
  step({}),
  step({ kernels: 'tfjs', msPerStep: 300, dispatchesPerStep: 4000 }),
  step({ method: 'monteclora', msPerStep: 32.4, dispatchesPerStep: 1013 }),
  step({ method: 'lora-dropout', msPerStep: 45 }),
  step({ method: 'dora', msPerStep: 90, dispatchesPerStep: 2300 }),
  step({ model: 'stories260K', batch: 32, msPerStep: 5 }),
  step({ model: 'stories260K', batch: 32, method: 'monteclora', msPerStep: 6, dispatchesPerStep: 1100 }),
];

const TORCH: TorchStep[] = [
  { model: 'builtin:medium (same shape)', dropout: 0, batch: 8, length: 256, msPerStep: 12 },
  // DoRA's, listed before LoRA's of the same dropout: a LoRA step is not held against it.
  { model: 'builtin:medium (same shape)', dropout: 0.05, dora: true, batch: 8, length: 256, msPerStep: 30 },
  { model: 'builtin:medium (same shape)', dropout: 0.05, batch: 8, length: 256, msPerStep: 50 },
  // Another sequence length: not the same step.
  { model: 'stories260K', dropout: 0, batch: 32, length: 128, msPerStep: 1 },
];

test('each LoRA step is held against the PyTorch step of the same model, dropout, batch and length', () => {
  const { loraOverPyTorch } = gpuTargets(STEPS, TORCH);
  assert.deepEqual(
    loraOverPyTorch.map(({ model, dropout, ratio, within3x, within1x }) => [model, dropout, ratio, within3x, within1x]),
    [
      ['builtin:medium', 0, 2.5, true, false],
      ['builtin:medium', 0.05, 0.9, true, true],
    ],
  );
});

test("DoRA's step is held against PyTorch's DoRA step, and over LoRA's with the same dropout", () => {
  const { doraOverPyTorch, doraOverLora } = gpuTargets(STEPS, TORCH);
  assert.deepEqual(
    doraOverPyTorch.map(({ model, dropout, ratio, within3x, within1x }) => [model, dropout, ratio, within3x, within1x]),
    [['builtin:medium', 0.05, 3, true, false]],
  );
  assert.deepEqual(doraOverLora, [{ model: 'builtin:medium', ratio: 2, dispatchRatio: 2.5 }]);
});

test("MonteCLoRA's step over LoRA's per model, with mceval's kernels, against 1.10×", () => {
  const { monteCloraOverLora } = gpuTargets(STEPS);
  assert.equal(monteCloraOverLora.length, 2);
  const [medium, stories] = monteCloraOverLora as [(typeof monteCloraOverLora)[0], (typeof monteCloraOverLora)[0]];
  assert.equal(medium.model, 'builtin:medium');
  assert.ok(Math.abs(medium.ratio - 1.08) < 1e-12 && medium.within110);
  assert.ok(Math.abs(medium.dispatchRatio - 1013 / 920) < 1e-12);
  assert.equal(stories.ratio, 1.2);
  assert.equal(stories.within110, false);
});

const paired = (model: string, round: number, lora: number, monteclora: number): PairedStep[] => [
  { model, round, method: 'lora', msPerStep: lora, dispatchesPerStep: 100 },
  { model, round, method: 'monteclora', msPerStep: monteclora, dispatchesPerStep: 110 },
];

test('MonteCLoRA over LoRA timed in turn: the middle of the rounds’ ratios, not the one apart timing', () => {
  // builtin:medium's apart timings say 1.08; its rounds say 1.25, 1.02 and 1.05: the middle, 1.05, is the ratio.
  const rounds = [...paired('builtin:medium', 0, 40, 50), ...paired('builtin:medium', 1, 50, 51)];
  const RoBERTa = 'roberta-base shape (12 layers, hidden 768, random)';
  const runs = [...rounds, ...paired('builtin:medium', 2, 40, 42), ...paired(RoBERTa, 0, 100, 104)];
  const { monteCloraOverLora } = gpuTargets(STEPS, [], [], runs);
  const medium = monteCloraOverLora.find((entry) => entry.model === 'builtin:medium')!;
  assert.deepEqual(medium.rounds, [1.25, 51 / 50, 42 / 40]);
  assert.equal(medium.ratio, 42 / 40);
  assert.ok(medium.within110);
  // Its dispatches are still the apart timings' (1013 / 920), the same steps.
  assert.ok(Math.abs(medium.dispatchRatio - 1013 / 920) < 1e-12);
  // A model timed only in turn gets its ratio from the rounds; one timed only apart keeps that timing's.
  const roberta = monteCloraOverLora.find((entry) => entry.model === RoBERTa)!;
  assert.deepEqual([roberta.ratio, roberta.rounds, roberta.dispatchRatio], [1.04, [1.04], 1.1]);
  const stories = monteCloraOverLora.find((entry) => entry.model === 'stories260K')!;
  assert.deepEqual([stories.ratio, stories.rounds], [1.2, undefined]);
  // Read from a whole webgpu.json as from a cut-off run's section lines.
  assert.deepEqual(readSections(JSON.stringify({ steps: STEPS, pairedSteps: runs }))['paired step'], runs);
});

const PIPELINED: PipelinedStep[] = [
  { model: 'builtin:medium', method: 'lora', batch: 8, length: 256, msPerStep: 30, pipelinedMsPerStep: 24 },
  { model: 'builtin:medium', method: 'monteclora', batch: 8, length: 256, msPerStep: 32.4, pipelinedMsPerStep: 27 },
  { model: 'stories260K', method: 'lora', batch: 32, length: 256, msPerStep: 5, pipelinedMsPerStep: 3 },
];

test('steps overlapped as fineTune trains: LoRA over PyTorch, MonteCLoRA over LoRA; none without them', () => {
  const { overlapped } = gpuTargets(STEPS, TORCH, PIPELINED);
  // 24 ms against PyTorch's 12 (the awaited step's 30: 2.5×); stories260K has no PyTorch step of its length.
  assert.deepEqual(
    overlapped.loraOverPyTorch.map(({ model, dropout, ratio, within3x }) => [model, dropout, ratio, within3x]),
    [['builtin:medium', 0, 2, true]],
  );
  assert.deepEqual(overlapped.monteCloraOverLora, [{ model: 'builtin:medium', ratio: 27 / 24, within110: false }]);
  assert.deepEqual(gpuTargets(STEPS, TORCH).overlapped, { loraOverPyTorch: [], monteCloraOverLora: [] });
  // From a whole webgpu.json and from a cut-off run's section lines alike.
  const whole = readSections(JSON.stringify({ steps: STEPS, pipelinedSteps: PIPELINED }));
  const lines = readSections(
    PIPELINED.map((value) => JSON.stringify({ finished: 'pipelined step', value })).join('\n'),
  );
  assert.deepEqual(whole['pipelined step'], PIPELINED);
  assert.deepEqual(lines['pipelined step'], PIPELINED);
});

/** A step of replay.ts: builtin:medium's LoRA, 30 ms recorded and 9 replayed, unless overridden. */
const replayed = (overrides: Partial<ReplayedStep>): ReplayedStep => ({
  model: 'builtin:medium',
  method: 'lora',
  batch: 8,
  length: 256,
  msPerStep: 30,
  replayedMsPerStep: 9,
  sameCommands: true,
  ...overrides,
});

test('replayed steps (replay.ts, its own process): the targets where a later step issued the same commands', () => {
  const sections = readSections(JSON.stringify({ steps: STEPS }));
  addSeparateRuns(sections, [
    'not json',
    JSON.stringify({
      replayedSteps: [
        replayed({}),
        replayed({ method: 'monteclora', replayedMsPerStep: 9.9, backToBackReplayedMsPerStep: 7.7 }),
        replayed({ method: 'lora-dropout', replayedMsPerStep: 10, backToBackReplayedMsPerStep: 8 }),
        // A later step issued other commands: the replay did not stand for it (PyTorch timed this shape).
        replayed({ model: 'stories260K', batch: 32, length: 128, sameCommands: false }),
      ],
    }),
  ]);
  const targets = gpuTargets(STEPS, TORCH, [], [], sections['replayed step'] as ReplayedStep[]);
  // 9 ms against PyTorch's 12; with dropout, 10 against its 50.
  assert.deepEqual(
    targets.replayed.loraOverPyTorch.map(({ model, dropout, ratio, within1x }) => [model, dropout, ratio, within1x]),
    [
      ['builtin:medium', 0, 0.75, true],
      ['builtin:medium', 0.05, 0.2, true],
    ],
  );
  assert.deepEqual(targets.replayed.monteCloraOverLora, [{ model: 'builtin:medium', ratio: 9.9 / 9, within110: true }]);
  assert.deepEqual(gpuTargets(STEPS, TORCH).replayed, { loraOverPyTorch: [], monteCloraOverLora: [] });
  // Back to back, where measured: LoRA with dropout 8 ms against PyTorch's 50; LoRA without was not measured that way,
  // so MonteCLoRA has no LoRA to be held against.
  assert.deepEqual(
    targets.replayedBackToBack.loraOverPyTorch.map(({ model, dropout, ratio }) => [model, dropout, ratio]),
    [['builtin:medium', 0.05, 0.16]],
  );
  assert.deepEqual(targets.replayedBackToBack.monteCloraOverLora, []);
  assert.deepEqual(targets.trainer, { loraOverPyTorch: [], monteCloraOverLora: [] });
  // A replay run cut off by its limit: the steps it finished, from its section lines on stderr.
  const cut = readSections(JSON.stringify({ steps: STEPS }));
  addSeparateRuns(cut, [
    ['Warning: a line Dawn writes', JSON.stringify({ finished: 'replayed step', value: replayed({}) })].join('\n'),
  ]);
  assert.deepEqual(cut['replayed step'], [replayed({})]);
});

test("fineTune's own steps, recorded and replayed: over PyTorch and MonteCLoRA over LoRA where the losses were the same", () => {
  const trainerStep = (overrides: Partial<ReplayedStep>): ReplayedStep =>
    replayed({
      trainerMsPerStep: 24,
      trainerReplayedMsPerStep: 11,
      trainerReplayed: 10,
      trainerSameLosses: true,
      ...overrides,
    });
  const targets = gpuTargets(
    STEPS,
    TORCH,
    [],
    [],
    [
      trainerStep({}),
      // Replayed losses not the same as recorded: no replayed target for it.
      trainerStep({
        method: 'lora-dropout',
        trainerMsPerStep: 60,
        trainerReplayedMsPerStep: 40,
        trainerSameLosses: false,
      }),
      // Nothing replayed (the captures never gave a plan): none either.
      trainerStep({ model: 'stories260K', batch: 32, length: 128, trainerReplayed: 0 }),
      // MonteCLoRA: 30 ms recorded, 12 replayed.
      trainerStep({ method: 'monteclora', trainerMsPerStep: 30, trainerReplayedMsPerStep: 12 }),
      // An entry from a kit before MonteCLoRA's steps were replayed: no trainer times.
      { ...trainerStep({ model: 'stories260K', method: 'monteclora' }), trainerMsPerStep: undefined },
    ],
  );
  // 24 and 11 ms against PyTorch's 12; with dropout, 60 against its 50; stories260K 24 against its 1.
  const ratios = (timing: { loraOverPyTorch: { model: string; dropout: number; ratio: number }[] }) =>
    timing.loraOverPyTorch.map(({ model, dropout, ratio }) => [model, dropout, ratio]);
  assert.deepEqual(ratios(targets.trainer), [
    ['builtin:medium', 0, 2],
    ['builtin:medium', 0.05, 1.2],
    ['stories260K', 0, 24],
  ]);
  assert.deepEqual(ratios(targets.trainerReplayed), [['builtin:medium', 0, 11 / 12]]);
  // Against LoRA without dropout on the same model: 30 / 24 recorded, 12 / 11 replayed.
  assert.deepEqual(targets.trainer.monteCloraOverLora, [{ model: 'builtin:medium', ratio: 30 / 24, within110: false }]);
  assert.deepEqual(targets.trainerReplayed.monteCloraOverLora, [
    { model: 'builtin:medium', ratio: 12 / 11, within110: true },
  ]);
});

test("the host's share of each step timed with mceval's kernels, and how busy its recording was", () => {
  const { hostShare } = gpuTargets(STEPS);
  assert.equal(hostShare.length, 6);
  assert.deepEqual(hostShare[0], { model: 'builtin:medium', method: 'lora', share: 0.4 });
  // A kit that measured the recording's CPU time: 9 of its 12 ms busy.
  const [measured] = gpuTargets([step({ recordingCpuMsPerStep: 9 })]).hostShare;
  assert.deepEqual(measured, { model: 'builtin:medium', method: 'lora', share: 0.4, busy: 0.75 });
});

test('steps are read from a whole webgpu.json or from the section lines of a cut-off run', () => {
  assert.deepEqual(readSteps(JSON.stringify({ adapter: {}, steps: STEPS.slice(0, 2) })), STEPS.slice(0, 2));
  const lines = [
    JSON.stringify({ finished: 'adapter', value: {} }),
    ...STEPS.slice(0, 3).map((value) => JSON.stringify({ finished: 'step', value })),
    JSON.stringify({ finished: 'profile', value: { method: 'lora' } }),
    'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced',
  ].join('\n');
  assert.deepEqual(readSteps(lines), STEPS.slice(0, 3));
});

test("the encoder's LoRA step pairs with torch_step.py's RoBERTa step under bench.ts's name for it", () => {
  const name = 'roberta-base shape (12 layers, hidden 768, random)';
  const steps = [
    step({ model: name, batch: 32, length: 128, msPerStep: 40 }),
    step({ model: name, batch: 32, length: 128, method: 'monteclora', msPerStep: 42 }),
  ];
  const torch: TorchStep[] = [{ model: name, dropout: 0, batch: 32, length: 128, msPerStep: 20 }];
  const { loraOverPyTorch, monteCloraOverLora } = gpuTargets(steps, torch);
  assert.deepEqual(
    loraOverPyTorch.map(({ model, ratio, within3x, within1x }) => ({ model, ratio, within3x, within1x })),
    [{ model: name, ratio: 2, within3x: true, within1x: false }],
  );
  assert.equal(monteCloraOverLora[0]!.ratio, 42 / 40);
});

/** The sweeps' sections as bench.ts writes them (field names and labels), on STEPS's model. */
const SWEPT = {
  submitBatches: [
    { dispatchesPerSubmit: 15, msPerStep: 90 },
    { dispatchesPerSubmit: 60, msPerStep: 100 },
    { dispatchesPerSubmit: 240, msPerStep: 99 },
  ],
  productTiles: [
    { tile: 64, msPerStep: 100 },
    { tile: 128, msPerStep: 98 },
  ],
  // The tiles' loops written out: a fifth faster here.
  productCodeSteps: [
    { setting: 'loops', msPerStep: 100 },
    { setting: 'unrolled', msPerStep: 80 },
  ],
  // The operands read ahead: slower here.
  productPrefetchSteps: [
    { setting: 'off', msPerStep: 100 },
    { setting: 'on', msPerStep: 104 },
  ],
  weightGradientSteps: [
    { method: 'lora', setting: 'split', msPerStep: 30 },
    { method: 'lora', setting: 'tfjs', msPerStep: 40 },
    { method: 'lora-dropout', setting: 'split', msPerStep: 45 },
    { method: 'lora-dropout', setting: 'tfjs', msPerStep: 50 },
  ],
  inlineSteps: [
    { method: 'lora', setting: 'always', msPerStep: 28 },
    { method: 'lora', setting: 'never', msPerStep: 33 },
    { method: 'lora-dropout', setting: 'always', msPerStep: 44 },
    { method: 'lora-dropout', setting: 'never', msPerStep: 47 },
    { method: 'monteclora', setting: 'always', msPerStep: 31 },
    { method: 'monteclora', setting: 'never', msPerStep: 35 },
  ],
  // auto is timed in the sweep itself.
  groupSteps: [
    { method: 'lora-dropout', setting: 'auto', msPerStep: 45 },
    { method: 'lora-dropout', setting: 'never', msPerStep: 43 },
    { method: 'monteclora', setting: 'auto', msPerStep: 32 },
    { method: 'monteclora', setting: 'never', msPerStep: 30 },
  ],
  // Kept bind groups against tfjs's, one made at every dispatch.
  bindGroupSteps: [
    { method: 'lora', setting: 'kept', msPerStep: 26 },
    { method: 'lora', setting: 'new', msPerStep: 30 },
    { method: 'monteclora', setting: 'kept', msPerStep: 29 },
    { method: 'monteclora', setting: 'new', msPerStep: 33 },
  ],
  // Joins by buffer copies against shaders: 1 ms in 60, within noise.
  joinSteps: [
    { method: 'lora', setting: 'copies', msPerStep: 30 },
    { method: 'lora', setting: 'shaders', msPerStep: 29.5 },
    { method: 'monteclora', setting: 'copies', msPerStep: 30 },
    { method: 'monteclora', setting: 'shaders', msPerStep: 29.5 },
  ],
  // SwiGLU's gating inside the down projections against apart: 3 ms fewer in 58, beyond noise.
  activationSteps: [
    { method: 'lora', setting: 'inside', msPerStep: 27 },
    { method: 'lora', setting: 'apart', msPerStep: 29 },
    { method: 'monteclora', setting: 'inside', msPerStep: 28 },
    { method: 'monteclora', setting: 'apart', msPerStep: 29 },
  ],
  // DoRA's rests alongside their dropped parts against apart: 8 ms fewer in 120, beyond noise.
  restSteps: [
    { method: 'dora', setting: 'alongside', msPerStep: 112 },
    { method: 'dora', setting: 'apart', msPerStep: 120 },
  ],
  // RoPE inside attention against McevalRope first: 1 ms more in 58, within noise.
  ropeSteps: [
    { method: 'lora', setting: 'inside', msPerStep: 29.5 },
    { method: 'lora', setting: 'apart', msPerStep: 29 },
    { method: 'monteclora', setting: 'inside', msPerStep: 29.5 },
    { method: 'monteclora', setting: 'apart', msPerStep: 29 },
  ],
  // A pass carried by the next call against its own dispatch: 4 ms fewer in 62, beyond noise.
  weightGradientSumSteps: [
    { method: 'lora', setting: 'later', msPerStep: 29 },
    { method: 'lora', setting: 'now', msPerStep: 31 },
    { method: 'monteclora', setting: 'later', msPerStep: 29 },
    { method: 'monteclora', setting: 'now', msPerStep: 31 },
  ],
  // dq, dk and dv in one dispatch against two: 2 ms more in 60, beyond noise (the default gives way).
  attentionGradientSteps: [
    { method: 'lora', setting: 'together', msPerStep: 31 },
    { method: 'lora', setting: 'apart', msPerStep: 30 },
    { method: 'monteclora', setting: 'together', msPerStep: 31 },
    { method: 'monteclora', setting: 'apart', msPerStep: 30 },
  ],
  matmulThresholds: [
    { threshold: 8, msPerStep: 30.1 },
    { threshold: 64, msPerStep: 29.9 },
    { threshold: 512, msPerStep: 31 },
  ],
  attentionSteps: [
    { lanes: '1', msPerStep: 33 },
    { lanes: 'by head size', msPerStep: 30 },
  ],
  // A full fine-tuning step, which no other section times: its default is in the sweep.
  productSteps: [
    { method: 'full', setting: 'transposed', msPerStep: 80 },
    { method: 'full', setting: 'all', msPerStep: 70 },
    { method: 'full', setting: 'tfjs', msPerStep: 90 },
  ],
  // Decoding steps: the few-rows shader against 64-row tiles.
  fewRowsGeneration: [
    { setting: '16', msPerStep: 4 },
    { setting: '0', msPerStep: 9 },
  ],
  // How the host waits, for training steps and for decoding steps: a timer's late wake-up shows in decoding.
  waitSteps: [
    { setting: 'spin', msPerStep: 30 },
    { setting: 'sleep', msPerStep: 26 },
    { setting: '2', msPerStep: 27 },
  ],
  waitGeneration: [
    { setting: 'spin', msPerStep: 4 },
    { setting: 'sleep', msPerStep: 5 },
    { setting: '2', msPerStep: 4.05 },
  ],
  // A whole sampled generation's milliseconds (its field `ms`), not a step's.
  generationJoins: [
    { join: 'under-way', ms: 900, msPerStep: 5 },
    { join: 'emptied', ms: 1200, msPerStep: 4 },
  ],
};

const LABELS: Record<keyof typeof SWEPT, string> = {
  submitBatches: 'submit batch',
  productTiles: 'product tile',
  productCodeSteps: 'product code step',
  productPrefetchSteps: 'product prefetch step',
  weightGradientSteps: 'weight gradients step',
  inlineSteps: 'inline narrow step',
  groupSteps: 'group step',
  bindGroupSteps: 'bind groups step',
  joinSteps: 'joins step',
  activationSteps: 'activation step',
  restSteps: 'rests step',
  ropeSteps: 'rope step',
  weightGradientSumSteps: 'weight gradient sums step',
  attentionGradientSteps: 'attention gradient step',
  matmulThresholds: 'matmul threshold',
  attentionSteps: 'attention lanes step',
  productSteps: 'products step',
  fewRowsGeneration: 'few rows generation',
  waitSteps: 'wait step',
  waitGeneration: 'wait generation',
  generationJoins: 'generation join',
};

test("each swept setting's fastest value, set only where it beats the default by more than noise", () => {
  const choices = settingChoices(readSections(JSON.stringify({ adapter: {}, steps: STEPS, ...SWEPT })));
  const by = Object.fromEntries(choices.map((choice) => [choice.variable, choice]));
  assert.equal(choices.length, 21);
  assert.deepEqual(by['MCEVAL_WEBGPU_SUBMIT_BATCH'], {
    variable: 'MCEVAL_WEBGPU_SUBMIT_BATCH',
    current: '60',
    measured: { '15': 90, '60': 100, '240': 99 },
    fastest: '15',
    saving: 1 - 90 / 100,
    set: 'MCEVAL_WEBGPU_SUBMIT_BATCH=15',
  });
  // 2% faster: within noise, the default stays.
  assert.equal(by['MCEVAL_WEBGPU_PRODUCT_TILE']!.fastest, '128');
  assert.equal(by['MCEVAL_WEBGPU_PRODUCT_TILE']!.set, null);
  assert.equal(by['MCEVAL_WEBGPU_PRODUCT_CODE']!.set, 'MCEVAL_WEBGPU_PRODUCT_CODE=unrolled');
  // Prefetching 4% slower: the default (off) is the fastest and stays.
  assert.deepEqual(by['MCEVAL_WEBGPU_PRODUCT_PREFETCH']!.measured, { off: 100, on: 104 });
  assert.equal(by['MCEVAL_WEBGPU_PRODUCT_PREFETCH']!.fastest, 'off');
  assert.equal(by['MCEVAL_WEBGPU_PRODUCT_PREFETCH']!.set, null);
  // Summed over the methods timed: split 75 ms against tfjs's 90.
  assert.deepEqual(by['MCEVAL_WEBGPU_WEIGHT_GRADIENTS']!.measured, { split: 75, tfjs: 90 });
  assert.equal(by['MCEVAL_WEBGPU_WEIGHT_GRADIENTS']!.set, null);
  // auto is not swept: its time is the same three methods' steps with mceval's kernels (30 + 45 + 32.4).
  const inline = by['MCEVAL_WEBGPU_INLINE_NARROW']!;
  assert.ok(Math.abs(inline.measured['auto']! - 107.4) < 1e-9);
  assert.equal(inline.fastest, 'always');
  assert.ok(Math.abs(inline.saving - (1 - 103 / 107.4)) < 1e-12);
  assert.equal(inline.set, 'MCEVAL_WEBGPU_INLINE_NARROW=always');
  // Groups: auto 77 ms against never's 73, beyond noise.
  assert.deepEqual(by['MCEVAL_WEBGPU_GROUPS']!.measured, { auto: 77, never: 73 });
  assert.equal(by['MCEVAL_WEBGPU_GROUPS']!.set, 'MCEVAL_WEBGPU_GROUPS=never');
  // Kept bind groups, the default, are the fastest: 55 ms against 63, and stay.
  assert.deepEqual(by['MCEVAL_WEBGPU_BIND_GROUPS']!.measured, { kept: 55, new: 63 });
  assert.equal(by['MCEVAL_WEBGPU_BIND_GROUPS']!.fastest, 'kept');
  assert.equal(by['MCEVAL_WEBGPU_BIND_GROUPS']!.set, null);
  // Shaders 59 ms against the copies' 60: faster, within noise, so the default stays.
  assert.deepEqual(by['MCEVAL_WEBGPU_JOINS']!.measured, { copies: 60, shaders: 59 });
  assert.equal(by['MCEVAL_WEBGPU_JOINS']!.fastest, 'shaders');
  assert.equal(by['MCEVAL_WEBGPU_JOINS']!.set, null);
  // Inside the default and the fastest: nothing to set.
  assert.deepEqual(by['MCEVAL_WEBGPU_ACTIVATIONS']!.measured, { inside: 55, apart: 58 });
  assert.equal(by['MCEVAL_WEBGPU_ACTIVATIONS']!.fastest, 'inside');
  assert.equal(by['MCEVAL_WEBGPU_ACTIVATIONS']!.set, null);
  // Alongside, the default, the fastest: nothing to set.
  assert.deepEqual(by['MCEVAL_WEBGPU_RESTS']!.measured, { alongside: 112, apart: 120 });
  assert.equal(by['MCEVAL_WEBGPU_RESTS']!.fastest, 'alongside');
  assert.equal(by['MCEVAL_WEBGPU_RESTS']!.set, null);
  // Apart faster by 1 ms in 59: within noise, the default stays.
  assert.deepEqual(by['MCEVAL_WEBGPU_ROPE']!.measured, { inside: 59, apart: 58 });
  assert.equal(by['MCEVAL_WEBGPU_ROPE']!.fastest, 'apart');
  assert.equal(by['MCEVAL_WEBGPU_ROPE']!.set, null);
  // Later, the default, the fastest: nothing to set.
  assert.deepEqual(by['MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS']!.measured, { later: 58, now: 62 });
  assert.equal(by['MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS']!.fastest, 'later');
  assert.equal(by['MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS']!.set, null);
  // Apart faster by 2 ms in 62 (3.2%): beyond noise, so it is set.
  assert.deepEqual(by['MCEVAL_WEBGPU_ATTENTION_GRADIENT']!.measured, { together: 62, apart: 60 });
  assert.equal(by['MCEVAL_WEBGPU_ATTENTION_GRADIENT']!.fastest, 'apart');
  assert.equal(by['MCEVAL_WEBGPU_ATTENTION_GRADIENT']!.set, 'MCEVAL_WEBGPU_ATTENTION_GRADIENT=apart');
  // tfjs's threshold by GPU: the LoRA step's 30 ms, against 29.9 at 64.
  const threshold = by['MCEVAL_WEBGPU_MATMUL_THRESHOLD']!;
  assert.equal(threshold.measured['by GPU'], 30);
  assert.equal(threshold.fastest, '64');
  assert.equal(threshold.set, null);
  assert.equal(by['MCEVAL_WEBGPU_ATTENTION_LANES']!.fastest, 'by head size');
  assert.equal(by['MCEVAL_WEBGPU_ATTENTION_LANES']!.set, null);
  assert.deepEqual(by['MCEVAL_WEBGPU_PRODUCTS'], {
    variable: 'MCEVAL_WEBGPU_PRODUCTS',
    current: 'transposed',
    measured: { transposed: 80, all: 70, tfjs: 90 },
    fastest: 'all',
    saving: 1 - 70 / 80,
    set: 'MCEVAL_WEBGPU_PRODUCTS=all',
  });
  // Decoding: the default (the few-rows shader up to 16 rows) is the fastest, and stays.
  assert.deepEqual(by['MCEVAL_WEBGPU_FEW_ROWS']!.measured, { '16': 4, '0': 9 });
  assert.equal(by['MCEVAL_WEBGPU_FEW_ROWS']!.set, null);
  assert.equal(by['MCEVAL_WEBGPU_FEW_ROWS']!.steps, 'decoding');
  // The wait: one choice from training steps (sleep saves 13%), one from decoding steps (spin stays: 2 ms is within
  // noise of it).
  const waits = choices.filter((choice) => choice.variable === 'MCEVAL_WEBGPU_WAIT');
  assert.deepEqual(
    waits.map(({ steps, fastest, set }) => ({ steps, fastest, set })),
    [
      { steps: undefined, fastest: 'sleep', set: 'MCEVAL_WEBGPU_WAIT=sleep' },
      { steps: 'decoding', fastest: 'spin', set: null },
    ],
  );
  // Joining a generation's batch: whole generations' milliseconds (under way 900, emptied 1,200), not their steps'
  // (which favour emptied): under way is the default, and stays.
  assert.deepEqual(by['MCEVAL_GENERATION_JOIN'], {
    variable: 'MCEVAL_GENERATION_JOIN',
    current: 'under-way',
    measured: { 'under-way': 900, emptied: 1200 },
    fastest: 'under-way',
    saving: 0,
    set: null,
    steps: 'generation',
  });
  // Only the decoding and generation sweeps say whose times they are.
  assert.deepEqual(
    choices.filter((choice) => choice.steps !== undefined).map((choice) => choice.variable),
    ['MCEVAL_WEBGPU_FEW_ROWS', 'MCEVAL_WEBGPU_WAIT', 'MCEVAL_GENERATION_JOIN'],
  );
});

test("a cut-off run's section lines give the same choices; a sweep not reached, or without its default's steps, none", () => {
  const lines = [
    ...STEPS.map((value) => JSON.stringify({ finished: 'step', value })),
    ...Object.entries(SWEPT).flatMap(([field, entries]) =>
      entries.map((value) => JSON.stringify({ finished: LABELS[field as keyof typeof SWEPT], value })),
    ),
  ];
  const whole = settingChoices(readSections(JSON.stringify({ steps: STEPS, ...SWEPT })));
  assert.deepEqual(settingChoices(readSections(lines.join('\n'))), whole);
  // Only the submit batches were reached.
  const early = lines.filter((line) => line.includes('"step"') || line.includes('"submit batch"'));
  assert.deepEqual(
    settingChoices(readSections(early.join('\n'))).map((choice) => choice.variable),
    ['MCEVAL_WEBGPU_SUBMIT_BATCH'],
  );
  // Without the MonteCLoRA step, auto's time is unknown: no inline choice.
  const noMonteclora = { steps: STEPS.filter((entry) => entry.method !== 'monteclora'), ...SWEPT };
  const variables = settingChoices(readSections(JSON.stringify(noMonteclora))).map((choice) => choice.variable);
  assert.ok(!variables.includes('MCEVAL_WEBGPU_INLINE_NARROW'));
  assert.equal(variables.length, 20);
});

test('the robustness runs (a process each) add their sweep; a value whose losses differ is never set', () => {
  const run = (setting: string, ms: number, losses: number[]) =>
    JSON.stringify({
      robustness: setting,
      products: { size: 2048, matrixProductTflops: 10 },
      robustnessSteps: ['lora', 'monteclora'].map((method) => ({ method, setting, msPerStep: ms, losses })),
    });
  const robustness = (off: string, ...more: string[]) => {
    const sections = readSections(JSON.stringify({ steps: STEPS, ...SWEPT }));
    addSeparateRuns(sections, [run('on', 100, [2.5, 2.25]), off, ...more]);
    return settingChoices(sections).find((choice) => choice.variable === 'MCEVAL_WEBGPU_ROBUSTNESS');
  };
  assert.deepEqual(robustness(run('off', 80, [2.5, 2.25])), {
    variable: 'MCEVAL_WEBGPU_ROBUSTNESS',
    current: 'on',
    measured: { on: 200, off: 160 },
    fastest: 'off',
    saving: 1 - 160 / 200,
    set: 'MCEVAL_WEBGPU_ROBUSTNESS=off',
  });
  // Faster but with other losses (a kernel read out of bounds): not set.
  const differing = robustness(run('off', 80, [2.5, 2.5]));
  assert.equal(differing!.set, null);
  assert.equal(differing!.lossesDiffer, true);
  // A run cut off (no output) adds nothing: one value alone is still a choice of the default.
  assert.deepEqual(robustness('', 'not json')!.measured, { on: 200 });
});

test("where the sweep timed the default itself (auto; tfjs's threshold by GPU as −1), its own time is the default's", () => {
  const swept = {
    ...SWEPT,
    inlineSteps: [
      ...SWEPT.inlineSteps,
      { method: 'lora', setting: 'auto', msPerStep: 29 },
      { method: 'lora-dropout', setting: 'auto', msPerStep: 45 },
      { method: 'monteclora', setting: 'auto', msPerStep: 32 },
    ],
    matmulThresholds: [...SWEPT.matmulThresholds, { threshold: -1, msPerStep: 31 }],
  };
  const by = Object.fromEntries(
    settingChoices(readSections(JSON.stringify({ steps: STEPS, ...swept }))).map((choice) => [choice.variable, choice]),
  );
  // Not the main steps' 107.4: the sweep's own 106.
  assert.equal(by['MCEVAL_WEBGPU_INLINE_NARROW']!.measured['auto'], 106);
  assert.equal(by['MCEVAL_WEBGPU_MATMUL_THRESHOLD']!.measured['by GPU'], 31);
  assert.equal(by['MCEVAL_WEBGPU_MATMUL_THRESHOLD']!.fastest, '64');
  // 29.9 against 31: 3.5% faster, beyond noise.
  assert.equal(by['MCEVAL_WEBGPU_MATMUL_THRESHOLD']!.set, 'MCEVAL_WEBGPU_MATMUL_THRESHOLD=64');
});

test("the evaluation batch: decoding's tokens per second by batch, the default changed only beyond noise", () => {
  const batches = (rates: readonly number[]) =>
    [8, 16, 32, 64].map((batch, i) => ({ batch, msPerStep: 5, tokensPerSecond: rates[i]!, dispatchesPerStep: 30 }));
  const choice = evaluationBatchChoice(
    readSections(JSON.stringify({ steps: STEPS, generationBatches: batches([1000, 1900, 3500, 6000]) })),
  );
  assert.deepEqual(choice, {
    current: 16,
    tokensPerSecond: { '8': 1000, '16': 1900, '32': 3500, '64': 6000 },
    fastest: 64,
    saving: 1 - 1900 / 6000,
    set: '--eval-batch-size 64',
  });
  // The same from a cut-off run's section lines.
  const lines = batches([1000, 1900, 3500, 6000]).map((value) =>
    JSON.stringify({ finished: 'generation batch', value }),
  );
  assert.deepEqual(evaluationBatchChoice(readSections(lines.join('\n'))), choice);
  // 32 is 2% faster than 16: within noise, the default stays.
  const close = evaluationBatchChoice(
    readSections(JSON.stringify({ generationBatches: batches([900, 1000, 1020, 700]) })),
  );
  assert.equal(close!.fastest, 32);
  assert.equal(close!.set, null);
  // Not reached, or the default not timed: no choice.
  assert.equal(evaluationBatchChoice(readSections(JSON.stringify({ steps: STEPS }))), null);
  const withoutDefault = batches([1000, 1900, 3500, 6000]).filter((entry) => entry.batch !== 16);
  assert.equal(evaluationBatchChoice(readSections(JSON.stringify({ generationBatches: withoutDefault }))), null);
});

test('torch.json cut off or missing gives no PyTorch steps, and the other targets are still stated', () => {
  const dir = mkdtempSync(join(tmpdir(), 'targets-'));
  try {
    const whole = join(dir, 'whole.json');
    writeFileSync(whole, JSON.stringify({ lora: TORCH }));
    const cut = join(dir, 'cut.json');
    writeFileSync(cut, JSON.stringify({ lora: TORCH }).slice(0, 40));
    assert.deepEqual(torchSteps(whole), TORCH);
    assert.deepEqual(torchSteps(cut), []);
    assert.deepEqual(torchSteps(join(dir, 'absent.json')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("each model's host profile in brief: where MonteCLoRA's extra recording time goes, most first", () => {
  const change = (name: string, difference: number) => ({
    function: name,
    lora: 1,
    monteclora: 1 + difference,
    difference,
  });
  const profile = {
    model: 'stories260K',
    batch: 32,
    length: 256,
    steps: 5,
    lora: { sampledMsPerStep: 38, self: [], inclusive: [] },
    monteclora: { sampledMsPerStep: 44, self: [], inclusive: [] },
    monteCloraChanges: {
      // Sorted by size, as bench.ts writes them: a function LoRA spends more in comes among them.
      self: [change('drawAll x.js:1', 2.5), change('adamw y.js:2', -1.5), change('stack z.js:3', 0.5)],
      inclusive: [change('step w.js:4', 6)],
    },
  };
  const expected = [
    {
      model: 'stories260K',
      loraMs: 38,
      monteCloraMs: 44,
      monteCloraMore: [
        { function: 'drawAll x.js:1', ms: 2.5 },
        { function: 'stack z.js:3', ms: 0.5 },
      ],
    },
  ];
  assert.deepEqual(
    hostProfileSummary(readSections(JSON.stringify({ steps: STEPS, hostProfiles: [profile] }))),
    expected,
  );
  // From a cut-off run's section line; none where the kit did not reach them.
  const line = JSON.stringify({ finished: 'host profile', value: profile });
  assert.deepEqual(hostProfileSummary(readSections(line)), expected);
  assert.deepEqual(hostProfileSummary(readSections(JSON.stringify({ steps: STEPS }))), []);
  // A profile without the changes' fields gives none.
  const bare = { ...profile, monteCloraChanges: undefined };
  assert.deepEqual(hostProfileSummary(readSections(JSON.stringify({ hostProfiles: [bare] })))[0]!.monteCloraMore, []);
});
