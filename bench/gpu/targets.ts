/**
 * The GPU trainer's targets, from what the kit measured (bench.ts's webgpu.json and, where PyTorch ran, torch_step.py's
 * torch.json): a LoRA step's time against PyTorch's on the same card for the same model, batch and sequence (within
 * 3×, then within 1×), MonteCLoRA's step time over LoRA's (at most 1.10×), and how much of each step the host spent
 * recording its dispatches (near 1: the step waits on the host, and fewer dispatches are what makes it faster).
 * run.sh prints it as targets.json after the two runs.
 *
 * Usage: node targets.mjs webgpu.json|webgpu.err [torch.json] — a run cut off by its time limit leaves no webgpu.json,
 * but its finished steps as lines of webgpu.err.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One timed step of bench.ts (the fields read here). */
export interface WebGpuStep {
  readonly model: string;
  readonly method: 'lora' | 'lora-dropout' | 'monteclora';
  readonly kernels: 'mceval' | 'tfjs';
  readonly batch: number;
  readonly length: number;
  readonly msPerStep: number;
  readonly recordingMsPerStep: number;
  readonly dispatchesPerStep: number;
}

/** One timed step of torch_step.py. */
export interface TorchStep {
  readonly model: string;
  readonly dropout: number;
  readonly batch: number;
  readonly length: number;
  readonly msPerStep: number;
}

export interface GpuTargets {
  /** mceval's LoRA step (its kernels) over PyTorch's, where both timed the same model, batch and length. */
  readonly loraOverPyTorch: {
    model: string;
    dropout: number;
    webgpuMs: number;
    torchMs: number;
    ratio: number;
    within3x: boolean;
    within1x: boolean;
  }[];
  /** MonteCLoRA's step over LoRA's, both with mceval's kernels, and the same for their dispatches. */
  readonly monteCloraOverLora: {
    model: string;
    ratio: number;
    within110: boolean;
    dispatchRatio: number;
  }[];
  /** recordingMsPerStep / msPerStep for every step timed with mceval's kernels. */
  readonly hostShare: { model: string; method: string; share: number }[];
}

const DROPOUT: Record<WebGpuStep['method'], number> = { lora: 0, 'lora-dropout': 0.05, monteclora: 0 };

export function gpuTargets(steps: readonly WebGpuStep[], torch: readonly TorchStep[] = []): GpuTargets {
  const ours = steps.filter((step) => step.kernels === 'mceval');
  const find = (model: string, method: WebGpuStep['method']) =>
    ours.find((step) => step.model === model && step.method === method);
  const models = [...new Set(ours.map((step) => step.model))];
  const loraOverPyTorch = ours
    .filter((step) => step.method !== 'monteclora')
    .flatMap((step) => {
      const dropout = DROPOUT[step.method];
      // torch_step.py names builtin:medium's shape "builtin:medium (same shape)".
      const reference = torch.find(
        (entry) =>
          (entry.model === step.model || entry.model.startsWith(`${step.model} `)) &&
          entry.dropout === dropout &&
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
  const monteCloraOverLora = models.flatMap((model) => {
    const [lora, monteclora] = [find(model, 'lora'), find(model, 'monteclora')];
    if (lora === undefined || monteclora === undefined) return [];
    const ratio = monteclora.msPerStep / lora.msPerStep;
    return [
      { model, ratio, within110: ratio <= 1.1, dispatchRatio: monteclora.dispatchesPerStep / lora.dispatchesPerStep },
    ];
  });
  const hostShare = ours.map((step) => ({
    model: step.model,
    method: step.method,
    share: step.recordingMsPerStep / step.msPerStep,
  }));
  return { loraOverPyTorch, monteCloraOverLora, hostShare };
}

/** The timed steps of bench.ts's whole output, or of the section lines it writes to stderr as it goes. */
export function readSteps(text: string): WebGpuStep[] {
  try {
    return (JSON.parse(text) as { steps: WebGpuStep[] }).steps;
  } catch {
    return text
      .split('\n')
      .filter((line) => line.startsWith('{"finished":"step"'))
      .map((line) => (JSON.parse(line) as { value: WebGpuStep }).value);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) || process.argv[1]?.endsWith('targets.mjs')) {
  const [webgpuFile, torchFile] = process.argv.slice(2);
  if (webgpuFile === undefined || !existsSync(webgpuFile)) {
    console.error('usage: node targets.mjs webgpu.json|webgpu.err [torch.json]');
    process.exit(2);
  }
  const torch =
    torchFile !== undefined && existsSync(torchFile)
      ? (JSON.parse(readFileSync(torchFile, 'utf8')) as { lora: TorchStep[] }).lora
      : [];
  console.log(JSON.stringify(gpuTargets(readSteps(readFileSync(webgpuFile, 'utf8')), torch), null, 2));
}
