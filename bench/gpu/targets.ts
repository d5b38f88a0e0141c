/**
 * The GPU trainer's targets, from what the kit measured (bench.ts's webgpu.json and, where PyTorch ran, torch_step.py's
 * torch.json): a LoRA step's time against PyTorch's on the same card for the same model, batch and sequence (within
 * 3×, then within 1×), DoRA's likewise and over LoRA's, MonteCLoRA's step time over LoRA's (at most 1.10×), and how
 * much of each step the host spent recording its dispatches (near 1: the step waits on the host, and fewer dispatches
 * are what makes it faster). run.sh prints it as targets.json after the two runs, with `settings`: for each engine
 * setting the kit swept, the step time under each value, the fastest, and whether it beats mceval's default by more
 * than run-to-run noise (the variable to set, and the default a later change to mceval should take); and
 * `evaluationBatch`: decoding's tokens per second at each batch timed, and the `--eval-batch-size` that gave the most;
 * and `hostProfiles`: each target model's host profile in brief (where MonteCLoRA's extra recording time goes).
 *
 * Usage: node targets.mjs webgpu.json|webgpu.err [torch.json] [robustness-on.json robustness-off.json
 * replay.json|replay.err] — a run cut off by its time limit leaves no webgpu.json (replay.json), but its finished steps
 * as lines of webgpu.err (replay.err); the robustness runs (robustness.ts, a process each) add the device setting's
 * sweep, replay.ts's run the replayed steps' targets.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_EVAL_BATCH } from '../../src/generation/batch-size.js';
import { middleTime } from '../options.js';

/** One timed step of bench.ts (the fields read here). */
export interface WebGpuStep {
  readonly model: string;
  readonly method: 'lora' | 'lora-dropout' | 'dora' | 'monteclora';
  readonly kernels: 'mceval' | 'tfjs';
  readonly batch: number;
  readonly length: number;
  readonly msPerStep: number;
  readonly recordingMsPerStep: number;
  /** The main thread's CPU time of the recording (Linux; absent from kits before it). */
  readonly recordingCpuMsPerStep?: number;
  readonly dispatchesPerStep: number;
}

/** A step of bench.ts timed awaiting each loss first and with each recorded while the one before it runs. */
export interface PipelinedStep {
  readonly model: string;
  readonly method: 'lora' | 'monteclora';
  readonly batch: number;
  readonly length: number;
  readonly msPerStep: number;
  /** As fineTune trains on webgpu (MCEVAL_WEBGPU_OVERLAP). */
  readonly pipelinedMsPerStep: number;
}

/** One of bench.ts's `pairedSteps`: LoRA's and MonteCLoRA's steps timed in turn, round after round. */
export interface PairedStep {
  readonly model: string;
  readonly round: number;
  readonly method: 'lora' | 'monteclora';
  readonly msPerStep: number;
  readonly dispatchesPerStep: number;
}

/** A step of replay.ts: recorded by tfjs, and its capture replayed (the same commands and bytes), in turn. */
export interface ReplayedStep {
  readonly model: string;
  readonly method: 'lora' | 'lora-dropout' | 'monteclora';
  readonly batch: number;
  readonly length: number;
  readonly msPerStep: number;
  readonly replayedMsPerStep: number;
  /** Replays issued back to back, the last one read (absent from kits before them). */
  readonly backToBackReplayedMsPerStep?: number;
  /** Whether a step recorded after the replays issued the captured commands: the replay stood for the step. */
  readonly sameCommands: boolean;
  /**
   * fineTune's steps, every one recorded (trainer-steps.ts; absent from kits before them, and from MonteCLoRA's entries
   * in kits before its steps were replayed).
   */
  readonly trainerMsPerStep?: number;
  /** …and with steps replayed (MCEVAL_WEBGPU_REPLAY=on): how many were, and whether the losses were the same. */
  readonly trainerReplayedMsPerStep?: number;
  readonly trainerReplayed?: number;
  readonly trainerSameLosses?: boolean;
}

/** One timed step of torch_step.py. */
export interface TorchStep {
  readonly model: string;
  readonly dropout: number;
  /** PEFT's use_dora (absent in a kit's output from before DoRA was timed: false). */
  readonly dora?: boolean;
  readonly batch: number;
  readonly length: number;
  readonly msPerStep: number;
}

/** A step of mceval's (its kernels) over PyTorch's on the same model, batch, length and dropout. */
export interface OverPyTorch {
  readonly model: string;
  readonly dropout: number;
  readonly webgpuMs: number;
  readonly torchMs: number;
  readonly ratio: number;
  readonly within3x: boolean;
  readonly within1x: boolean;
}

export interface GpuTargets {
  /** mceval's LoRA step (its kernels) over PyTorch's, where both timed the same model, batch and length. */
  readonly loraOverPyTorch: OverPyTorch[];
  /** The same for DoRA's step (its preset's dropout 0.05). */
  readonly doraOverPyTorch: OverPyTorch[];
  /** DoRA's step over LoRA's with the same dropout (0.05), both with mceval's kernels, and their dispatches'. */
  readonly doraOverLora: { model: string; ratio: number; dispatchRatio: number }[];
  /**
   * MonteCLoRA's step over LoRA's, both with mceval's kernels, and the same for their dispatches. Where the kit timed
   * them in turn (`pairedSteps`), `ratio` is the middle of the rounds' ratios and `rounds` holds each; else the one
   * timing of each.
   */
  readonly monteCloraOverLora: {
    model: string;
    ratio: number;
    within110: boolean;
    dispatchRatio: number;
    rounds?: number[];
  }[];
  /**
   * recordingMsPerStep / msPerStep for every step timed with mceval's kernels, and where the kit measured the
   * recording's CPU time, recordingCpuMsPerStep / recordingMsPerStep (`busy`: under 1, the recording waited).
   */
  readonly hostShare: { model: string; method: string; share: number; busy?: number }[];
  /**
   * The same two targets with each step recorded while the one before it runs, as fineTune trains (`pipelinedSteps`:
   * absent in a kit's output from before them, or where the run was cut off first).
   */
  readonly overlapped: TimingTargets;
  /**
   * The same two targets for a step replayed instead of recorded (replay.ts's `replayedSteps`, where a later step
   * issued the captured commands): what the GPU takes once the host no longer records each step.
   */
  readonly replayed: TimingTargets;
  /**
   * And for replays issued back to back (`backToBackReplayedMsPerStep`, where measured): the host issuing one while
   * the GPU runs those before — the floor of a trainer that replayed its steps.
   */
  readonly replayedBackToBack: TimingTargets;
  /**
   * LoRA over PyTorch and MonteCLoRA over LoRA for fineTune's own steps (replay.ts's trainer fields): with every step
   * recorded (`trainer`), and with steps replayed as MCEVAL_WEBGPU_REPLAY=on trains (`trainerReplayed`, where steps
   * were replayed and the losses were the same as recorded).
   */
  readonly trainer: TimingTargets;
  readonly trainerReplayed: TimingTargets;
}

/** LoRA over PyTorch and MonteCLoRA over LoRA for one way of running the steps. */
export interface TimingTargets {
  readonly loraOverPyTorch: OverPyTorch[];
  readonly monteCloraOverLora: { model: string; ratio: number; within110: boolean }[];
}

/** One engine setting the kit swept on its model's steps. */
export interface SettingChoice {
  readonly variable: string;
  /** mceval's default. */
  readonly current: string;
  /** Each value's step time in milliseconds, summed over the methods timed under it. */
  readonly measured: Readonly<Record<string, number>>;
  readonly fastest: string;
  /** 1 − fastest / current: the share of a step the fastest value saves. */
  readonly saving: number;
  /** `VARIABLE=value` where the saving is beyond noise, else null: the default stays. */
  readonly set: string | null;
  /**
   * Present where the times are not training steps': decoding steps', or a whole sampled generation's (the same tokens
   * under each value).
   */
  readonly steps?: 'decoding' | 'generation';
  /** Present (true) where a value's losses differed from the default's: it is then not set, however fast. */
  readonly lossesDiffer?: true;
}

/** A saving below this share of a step is within what two timings of one setting differ by. */
export const NOISE = 0.03;

/** An entry of a section: its fields as bench.ts wrote them. */
type Entry = Readonly<Record<string, unknown>> & { readonly method?: string };

/**
 * A sweep whose entries give their value in `key`, some values renamed by `names`, and their time in `time`
 * (milliseconds); `steps` where its times are not training steps' (a setting swept both ways then has a choice for
 * each).
 */
function sweep(
  label: string,
  field: string,
  variable: string,
  current: string,
  key: string,
  {
    names = {},
    steps,
    time = 'msPerStep',
  }: { names?: Readonly<Record<string, string>>; steps?: SettingChoice['steps']; time?: string } = {},
) {
  const value = (entry: Entry) => names[String(entry[key])] ?? String(entry[key]);
  const ms = (entry: Entry) => Number(entry[time]);
  return { label, field, variable, current, value, ms, steps };
}

/**
 * The sweeps of bench.ts: its section label, the field of webgpu.json that holds it, the setting's variable, mceval's
 * default and the value each entry was timed under.
 */
const SWEEPS = [
  sweep('submit batch', 'submitBatches', 'MCEVAL_WEBGPU_SUBMIT_BATCH', '60', 'dispatchesPerSubmit'),
  sweep('product tile', 'productTiles', 'MCEVAL_WEBGPU_PRODUCT_TILE', '64', 'tile'),
  sweep('product code step', 'productCodeSteps', 'MCEVAL_WEBGPU_PRODUCT_CODE', 'loops', 'setting'),
  sweep('product prefetch step', 'productPrefetchSteps', 'MCEVAL_WEBGPU_PRODUCT_PREFETCH', 'off', 'setting'),
  sweep('weight gradients step', 'weightGradientSteps', 'MCEVAL_WEBGPU_WEIGHT_GRADIENTS', 'split', 'setting'),
  sweep('inline narrow step', 'inlineSteps', 'MCEVAL_WEBGPU_INLINE_NARROW', 'auto', 'setting'),
  sweep('group step', 'groupSteps', 'MCEVAL_WEBGPU_GROUPS', 'auto', 'setting'),
  sweep('bind groups step', 'bindGroupSteps', 'MCEVAL_WEBGPU_BIND_GROUPS', 'kept', 'setting'),
  sweep('joins step', 'joinSteps', 'MCEVAL_WEBGPU_JOINS', 'copies', 'setting'),
  sweep('activation step', 'activationSteps', 'MCEVAL_WEBGPU_ACTIVATIONS', 'inside', 'setting'),
  sweep('rests step', 'restSteps', 'MCEVAL_WEBGPU_RESTS', 'alongside', 'setting'),
  sweep('rope step', 'ropeSteps', 'MCEVAL_WEBGPU_ROPE', 'inside', 'setting'),
  sweep(
    'weight gradient sums step',
    'weightGradientSumSteps',
    'MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS',
    'later',
    'setting',
  ),
  sweep('attention gradient step', 'attentionGradientSteps', 'MCEVAL_WEBGPU_ATTENTION_GRADIENT', 'together', 'setting'),
  // A device setting: robustness.ts's two runs, one process each (their `robustnessSteps`, read beside webgpu.json).
  sweep('robustness step', 'robustnessSteps', 'MCEVAL_WEBGPU_ROBUSTNESS', 'on', 'setting'),
  // bench.ts times tfjs's own (by GPU) as −1, its flag's value for unset.
  sweep('matmul threshold', 'matmulThresholds', 'MCEVAL_WEBGPU_MATMUL_THRESHOLD', 'by GPU', 'threshold', {
    names: { '-1': 'by GPU' },
  }),
  sweep('attention lanes step', 'attentionSteps', 'MCEVAL_WEBGPU_ATTENTION_LANES', 'by head size', 'lanes'),
  sweep('products step', 'productSteps', 'MCEVAL_WEBGPU_PRODUCTS', 'transposed', 'setting'),
  // Milliseconds per decoding step, not per training step: the setting decides only products of few rows.
  sweep('few rows generation', 'fewRowsGeneration', 'MCEVAL_WEBGPU_FEW_ROWS', '16', 'setting', { steps: 'decoding' }),
  // On a GPU `auto` is Dawn's spin. Training steps and decoding steps apart: a decoding step waits once per token.
  sweep('wait step', 'waitSteps', 'MCEVAL_WEBGPU_WAIT', 'spin', 'setting'),
  sweep('wait generation', 'waitGeneration', 'MCEVAL_WEBGPU_WAIT', 'spin', 'setting', { steps: 'decoding' }),
  // A whole sampled generation's milliseconds.
  sweep('generation join', 'generationJoins', 'MCEVAL_GENERATION_JOIN', 'under-way', 'join', {
    steps: 'generation',
    time: 'ms',
  }),
];

/**
 * Each setting the kit swept, from bench.ts's sections (`readSections`). A sweep times the LoRA step (or each of a few
 * methods) on its model under each value; where the default is not among the values (a kit from before auto and
 * tfjs's threshold by GPU were swept), its time is that of the same methods' steps with mceval's kernels on the sweep's
 * model, the first model timed.
 */
export function settingChoices(sections: Readonly<Record<string, readonly unknown[]>>): SettingChoice[] {
  const steps = (sections['step'] ?? []) as WebGpuStep[];
  const model = steps[0]?.model;
  const defaultStep = (method: string) =>
    steps.find((step) => step.model === model && step.kernels === 'mceval' && step.method === method)?.msPerStep;
  return SWEEPS.flatMap((sweep) => {
    const entries = (sections[sweep.label] ?? []) as Entry[];
    if (entries.length === 0) return [];
    const measured: Record<string, number> = {};
    for (const entry of entries) {
      const value = sweep.value(entry);
      measured[value] = (measured[value] ?? 0) + sweep.ms(entry);
    }
    if (measured[sweep.current] === undefined) {
      const methods = [...new Set(entries.map((entry) => entry.method ?? 'lora'))];
      const times = methods.map(defaultStep);
      if (times.some((time) => time === undefined)) return [];
      measured[sweep.current] = (times as number[]).reduce((sum, time) => sum + time, 0);
    }
    const fastest = Object.keys(measured).reduce((best, value) => (measured[value]! < measured[best]! ? value : best));
    const saving = 1 - measured[fastest]! / measured[sweep.current]!;
    // Where the entries carry their losses (a setting that must not change them), a value whose losses differ from
    // the default's is not one to set, however fast.
    const differ = lossesDiffer(entries, sweep.value, sweep.current);
    const set = fastest !== sweep.current && saving > NOISE && !differ ? `${sweep.variable}=${fastest}` : null;
    const steps = sweep.steps === undefined ? {} : { steps: sweep.steps };
    const losses = differ ? { lossesDiffer: true as const } : {};
    return [{ variable: sweep.variable, current: sweep.current, measured, fastest, saving, set, ...steps, ...losses }];
  });
}

/** Whether any entry's `losses` differ from those of the same method's entry under the default `current`. */
function lossesDiffer(entries: readonly Entry[], value: (entry: Entry) => string, current: string): boolean {
  const lossesOf = (entry: Entry) => (Array.isArray(entry['losses']) ? JSON.stringify(entry['losses']) : undefined);
  const byDefault = new Map(entries.filter((entry) => value(entry) === current).map((e) => [e.method, lossesOf(e)]));
  return entries.some((entry) => {
    const losses = lossesOf(entry);
    return losses !== undefined && byDefault.has(entry.method) && byDefault.get(entry.method) !== losses;
  });
}

/** bench.ts's section of LoRA's decoding at several batch sizes (`generationBatches`). */
const GENERATION_BATCH = 'generation batch';

/** Decoding at each batch size the kit timed, and the batch size that decoded the most tokens per second. */
export interface EvaluationBatchChoice {
  /** mceval's default. */
  readonly current: number;
  /** Tokens per second by batch size. */
  readonly tokensPerSecond: Readonly<Record<string, number>>;
  readonly fastest: number;
  /** 1 − the default's tokens per second over the fastest's: the share of a token's time the fastest saves. */
  readonly saving: number;
  /** `--eval-batch-size N` where the saving is beyond noise, else null: the default stays. */
  readonly set: string | null;
}

/**
 * The evaluation batch from bench.ts's `generationBatches`, or null where the kit did not reach them or did not time
 * the default.
 */
export function evaluationBatchChoice(
  sections: Readonly<Record<string, readonly unknown[]>>,
): EvaluationBatchChoice | null {
  const entries = (sections[GENERATION_BATCH] ?? []) as { batch: number; tokensPerSecond: number }[];
  const rates = Object.fromEntries(entries.map((entry) => [String(entry.batch), entry.tokensPerSecond]));
  const current = rates[String(DEFAULT_EVAL_BATCH)];
  if (current === undefined) return null;
  const fastest = entries.reduce((best, entry) => (entry.tokensPerSecond > best.tokensPerSecond ? entry : best)).batch;
  const saving = 1 - current / rates[String(fastest)]!;
  return {
    current: DEFAULT_EVAL_BATCH,
    tokensPerSecond: rates,
    fastest,
    saving,
    set: saving > NOISE ? `--eval-batch-size ${fastest}` : null,
  };
}

/** bench.ts's section of the host's profiles (`hostProfiles`), the parts read here. */
const HOST_PROFILE = 'host profile';

interface HostProfileEntry {
  readonly model: string;
  readonly lora: { readonly sampledMsPerStep: number };
  readonly monteclora: { readonly sampledMsPerStep: number };
  readonly monteCloraChanges?: { readonly self?: readonly { function: string; difference: number }[] };
}

/** A target model's host profile in brief. */
export interface HostProfileSummary {
  readonly model: string;
  /** Sampled ms of a step's recording, each method. */
  readonly loraMs: number;
  readonly monteCloraMs: number;
  /** The functions MonteCLoRA's recording spends most more of its own time in, most first (ms a step). */
  readonly monteCloraMore: { function: string; ms: number }[];
}

/**
 * Each target model's host profile from bench.ts's `hostProfiles`: both methods' sampled ms a step, and the (up to)
 * eight functions whose own time MonteCLoRA's step adds most to — where its extra recording time goes on that CPU.
 */
export function hostProfileSummary(sections: Readonly<Record<string, readonly unknown[]>>): HostProfileSummary[] {
  return ((sections[HOST_PROFILE] ?? []) as HostProfileEntry[]).map((entry) => ({
    model: entry.model,
    loraMs: entry.lora.sampledMsPerStep,
    monteCloraMs: entry.monteclora.sampledMsPerStep,
    // A profile of another shape (a kit from before these fields) adds none rather than stopping the targets.
    monteCloraMore: (entry.monteCloraChanges?.self ?? [])
      .filter((change) => change.difference > 0)
      .sort((a, b) => b.difference - a.difference)
      .slice(0, 8)
      .map((change) => ({ function: change.function, ms: change.difference })),
  }));
}

const DROPOUT: Record<WebGpuStep['method'], number> = { lora: 0, 'lora-dropout': 0.05, dora: 0.05, monteclora: 0 };

/** Each of these steps over PyTorch's step of the same model, batch, length, dropout and method (DoRA or not). */
function overPyTorch(steps: readonly WebGpuStep[], torch: readonly TorchStep[]): OverPyTorch[] {
  return steps.flatMap((step) => {
    const dropout = DROPOUT[step.method];
    // torch_step.py names builtin:medium's shape "builtin:medium (same shape)".
    const reference = torch.find(
      (entry) =>
        (entry.model === step.model || entry.model.startsWith(`${step.model} `)) &&
        entry.dropout === dropout &&
        (entry.dora ?? false) === (step.method === 'dora') &&
        entry.batch === step.batch &&
        entry.length === step.length,
    );
    if (reference === undefined) return [];
    const ratio = step.msPerStep / reference.msPerStep;
    return [
      {
        model: step.model,
        dropout,
        webgpuMs: step.msPerStep,
        torchMs: reference.msPerStep,
        ratio,
        within3x: ratio <= 3,
        within1x: ratio <= 1,
      },
    ];
  });
}

/** Per model, MonteCLoRA's step over LoRA's (both in `steps`), and the same for their dispatches. */
/** Each round's MonteCLoRA step over its LoRA step, for `model`, in round order (rounds missing either left out). */
function roundRatios(paired: readonly PairedStep[], model: string): number[] {
  const ofModel = paired.filter((step) => step.model === model);
  return [...new Set(ofModel.map((step) => step.round))]
    .sort((a, b) => a - b)
    .flatMap((round) => {
      const of = (method: PairedStep['method']) =>
        ofModel.find((step) => step.round === round && step.method === method);
      const [lora, monteclora] = [of('lora'), of('monteclora')];
      return lora === undefined || monteclora === undefined ? [] : [monteclora.msPerStep / lora.msPerStep];
    });
}

function monteCloraRatios(steps: readonly WebGpuStep[], paired: readonly PairedStep[] = []) {
  return [...new Set([...steps, ...paired].map((step) => step.model))].flatMap((model) => {
    const of = (method: WebGpuStep['method']) =>
      steps.find((step) => step.model === model && step.method === method) ??
      paired.find((step) => step.model === model && step.method === method);
    const [lora, monteclora] = [of('lora'), of('monteclora')];
    if (lora === undefined || monteclora === undefined) return [];
    const rounds = roundRatios(paired, model);
    const ratio = rounds.length > 0 ? middleTime(rounds) : monteclora.msPerStep / lora.msPerStep;
    const dispatchRatio = monteclora.dispatchesPerStep / lora.dispatchesPerStep;
    return [{ model, ratio, within110: ratio <= 1.1, dispatchRatio, ...(rounds.length > 0 ? { rounds } : {}) }];
  });
}

/**
 * LoRA's steps over PyTorch's, and MonteCLoRA's over LoRA's, per model, from steps timed another way (overlapped,
 * replayed): each entry's model, method and shape with `ms` as its time (no dispatches counted).
 */
function timingTargets<T extends Pick<WebGpuStep, 'model' | 'method' | 'batch' | 'length'>>(
  entries: readonly T[],
  ms: (entry: T) => number,
  torch: readonly TorchStep[],
): TimingTargets {
  const asSteps = entries.map((entry): WebGpuStep => ({
    model: entry.model,
    method: entry.method,
    batch: entry.batch,
    length: entry.length,
    kernels: 'mceval',
    msPerStep: ms(entry),
    recordingMsPerStep: 0,
    dispatchesPerStep: 0,
  }));
  return {
    loraOverPyTorch: overPyTorch(
      asSteps.filter((step) => step.method === 'lora' || step.method === 'lora-dropout'),
      torch,
    ),
    monteCloraOverLora: monteCloraRatios(asSteps).map(({ model, ratio, within110 }) => ({ model, ratio, within110 })),
  };
}

export function gpuTargets(
  steps: readonly WebGpuStep[],
  torch: readonly TorchStep[] = [],
  pipelined: readonly PipelinedStep[] = [],
  paired: readonly PairedStep[] = [],
  replayedSteps: readonly ReplayedStep[] = [],
): GpuTargets {
  const ours = steps.filter((step) => step.kernels === 'mceval');
  const find = (model: string, method: WebGpuStep['method']) =>
    ours.find((step) => step.model === model && step.method === method);
  const models = [...new Set(ours.map((step) => step.model))];
  const loraOverPyTorch = overPyTorch(
    ours.filter((step) => step.method === 'lora' || step.method === 'lora-dropout'),
    torch,
  );
  const doraOverPyTorch = overPyTorch(
    ours.filter((step) => step.method === 'dora'),
    torch,
  );
  const doraOverLora = models.flatMap((model) => {
    const [lora, dora] = [find(model, 'lora-dropout'), find(model, 'dora')];
    if (lora === undefined || dora === undefined) return [];
    return [
      { model, ratio: dora.msPerStep / lora.msPerStep, dispatchRatio: dora.dispatchesPerStep / lora.dispatchesPerStep },
    ];
  });
  const monteCloraOverLora = monteCloraRatios(ours, paired);
  const hostShare = ours.map((step) => ({
    model: step.model,
    method: step.method,
    share: step.recordingMsPerStep / step.msPerStep,
    ...(step.recordingCpuMsPerStep === undefined ? {} : { busy: step.recordingCpuMsPerStep / step.recordingMsPerStep }),
  }));
  const overlapped = timingTargets(pipelined, (entry) => entry.pipelinedMsPerStep, torch);
  const replayed = timingTargets(
    replayedSteps.filter((entry) => entry.sameCommands),
    (entry) => entry.replayedMsPerStep,
    torch,
  );
  const replayedBackToBack = timingTargets(
    replayedSteps.filter((entry) => entry.sameCommands && entry.backToBackReplayedMsPerStep !== undefined),
    (entry) => entry.backToBackReplayedMsPerStep!,
    torch,
  );
  const trainer = timingTargets(
    replayedSteps.filter((entry) => entry.trainerMsPerStep !== undefined),
    (entry) => entry.trainerMsPerStep!,
    torch,
  );
  const trainerReplayed = timingTargets(
    replayedSteps.filter(
      (entry) =>
        entry.trainerReplayedMsPerStep !== undefined && entry.trainerSameLosses === true && entry.trainerReplayed! > 0,
    ),
    (entry) => entry.trainerReplayedMsPerStep!,
    torch,
  );
  return {
    loraOverPyTorch,
    doraOverPyTorch,
    doraOverLora,
    monteCloraOverLora,
    hostShare,
    overlapped,
    replayed,
    replayedBackToBack,
    trainer,
    trainerReplayed,
  };
}

/**
 * bench.ts's entries by section label (`step`, and the sweeps'), from its whole output (webgpu.json) or from the
 * section lines it writes to stderr as it goes (webgpu.err, all a run cut off by its time limit leaves).
 */
export function readSections(text: string): Record<string, unknown[]> {
  let whole: Record<string, unknown> | undefined;
  try {
    whole = JSON.parse(text) as Record<string, unknown>;
  } catch {
    whole = undefined;
  }
  // A section line alone is whole JSON too.
  if (whole !== undefined && !('finished' in whole)) {
    const sections: Record<string, unknown[]> = {
      step: (whole['steps'] ?? []) as unknown[],
      'pipelined step': (whole['pipelinedSteps'] ?? []) as unknown[],
      'paired step': (whole['pairedSteps'] ?? []) as unknown[],
    };
    for (const sweep of SWEEPS) sections[sweep.label] = (whole[sweep.field] ?? []) as unknown[];
    sections[GENERATION_BATCH] = (whole['generationBatches'] ?? []) as unknown[];
    sections[HOST_PROFILE] = (whole['hostProfiles'] ?? []) as unknown[];
    return sections;
  }
  return sectionLines(text);
}

/** The entries of the section lines (`{"finished": label, "value": …}`) a run wrote to stderr as it went, by label. */
function sectionLines(text: string): Record<string, unknown[]> {
  const sections: Record<string, unknown[]> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"finished":')) continue;
    const { finished, value } = JSON.parse(line) as { finished: string; value: unknown };
    (sections[finished] ??= []).push(value);
  }
  return sections;
}

/** The timed steps of bench.ts's whole output, or of the section lines it writes to stderr as it goes. */
export function readSteps(text: string): WebGpuStep[] {
  return (readSections(text)['step'] ?? []) as WebGpuStep[];
}

/**
 * Adds what the kit's runs in processes of their own measured to `sections`: their sweeps (robustness.ts's: a device
 * setting) and replay.ts's steps, from their whole outputs, or from the section lines a run writes to stderr as it goes
 * (replay.err: all a run cut off by its limit leaves); a run that printed neither (cut off, failed) adds nothing.
 */
export function addSeparateRuns(sections: Record<string, unknown[]>, texts: readonly string[]): void {
  for (const text of texts) {
    let whole: Record<string, unknown>;
    try {
      whole = JSON.parse(text) as Record<string, unknown>;
    } catch {
      for (const [label, values] of Object.entries(sectionLines(text))) (sections[label] ??= []).push(...values);
      continue;
    }
    for (const sweep of SWEEPS)
      if (Array.isArray(whole[sweep.field])) (sections[sweep.label] ??= []).push(...(whole[sweep.field] as unknown[]));
    if (Array.isArray(whole['replayedSteps']))
      (sections[REPLAYED] ??= []).push(...(whole['replayedSteps'] as unknown[]));
  }
}

/** The section of replay.ts's steps (its own run: replay.json). */
export const REPLAYED = 'replayed step';

/**
 * torch_step.py's steps from its file; none where it is missing or not whole JSON (PyTorch absent there, or its run cut
 * off by its time limit): the targets against PyTorch are then empty, the others still stated.
 */
export function torchSteps(file: string): TorchStep[] {
  if (!existsSync(file)) return [];
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { lora?: TorchStep[] }).lora ?? [];
  } catch {
    return [];
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) || process.argv[1]?.endsWith('targets.mjs')) {
  const [webgpuFile, torchFile, ...separateFiles] = process.argv.slice(2);
  if (webgpuFile === undefined || !existsSync(webgpuFile)) {
    console.error('usage: node targets.mjs webgpu.json|webgpu.err [torch.json] [robustness-on.json …]');
    process.exit(2);
  }
  const torch = torchFile === undefined ? [] : torchSteps(torchFile);
  const sections = readSections(readFileSync(webgpuFile, 'utf8'));
  addSeparateRuns(
    sections,
    separateFiles.filter((file) => existsSync(file)).map((file) => readFileSync(file, 'utf8')),
  );
  const targets = gpuTargets(
    (sections['step'] ?? []) as WebGpuStep[],
    torch,
    (sections['pipelined step'] ?? []) as PipelinedStep[],
    (sections['paired step'] ?? []) as PairedStep[],
    (sections[REPLAYED] ?? []) as ReplayedStep[],
  );
  console.log(
    JSON.stringify(
      {
        ...targets,
        settings: settingChoices(sections),
        evaluationBatch: evaluationBatchChoice(sections),
        hostProfiles: hostProfileSummary(sections),
      },
      null,
      2,
    ),
  );
}
