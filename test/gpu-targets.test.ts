/**
 * bench/gpu/targets.ts, which turns the kit's measurements into the GPU trainer's targets: which PyTorch step a webgpu
 * step is held against (same model, dropout, batch and length), the ratios and their verdicts, and reading the steps
 * from a whole webgpu.json or from the section lines of a run cut off by its time limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpuTargets, readSteps, type TorchStep, type WebGpuStep } from '../bench/gpu/targets.js';

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
  step({ model: 'stories260K', batch: 32, msPerStep: 5 }),
  step({ model: 'stories260K', batch: 32, method: 'monteclora', msPerStep: 6, dispatchesPerStep: 1100 }),
];

const TORCH: TorchStep[] = [
  { model: 'builtin:medium (same shape)', dropout: 0, batch: 8, length: 256, msPerStep: 12 },
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

test("the host's share of each step timed with mceval's kernels", () => {
  const { hostShare } = gpuTargets(STEPS);
  assert.equal(hostShare.length, 5);
  assert.deepEqual(hostShare[0], { model: 'builtin:medium', method: 'lora', share: 0.4 });
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
