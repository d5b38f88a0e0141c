/**
 * A one-line progress bar on stderr: grid point, epoch, step and ETA. It draws only on a terminal, so logs, pipes
 * and CI stay clean.
 */
export interface ProgressState {
  readonly label: string;
  readonly run: number;
  readonly runs: number;
  readonly epoch: number;
  readonly epochs: number;
  readonly step: number;
  readonly steps: number;
  readonly loss: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** What a training run reports: run, epoch, step and loss. */
export function trainingLabel(state: ProgressState): string {
  return (
    `run ${state.run}/${state.runs} ${state.label} | epoch ${state.epoch}/${state.epochs} | ` +
    `step ${state.step}/${state.steps} | loss ${state.loss.toFixed(4)}`
  );
}

/** Seconds left if the rest goes at the pace so far; NaN before anything is done. */
export function etaSeconds(elapsedSeconds: number, overall: number): number {
  return overall > 0 ? (elapsedSeconds * (1 - overall)) / overall : Number.NaN;
}

/** `label | [###---] 45% | ETA 1m35s`; `overall` in [0, 1] is the fraction of the whole job done. */
export function formatBar(label: string, overall: number, etaSeconds: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, overall)) * width);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
  return `${label} | [${bar}] ${Math.round(overall * 100)}% | ETA ${formatDuration(etaSeconds)}`;
}

/** The text of a training sweep's bar. */
export function formatProgress(state: ProgressState, overall: number, etaSeconds: number, width = 20): string {
  return formatBar(trainingLabel(state), overall, etaSeconds, width);
}

export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;

  /** Without a stream (e.g. under --json) the bar never draws. */
  constructor(private readonly stream: NodeJS.WriteStream | null = process.stderr) {}

  get enabled(): boolean {
    return this.stream?.isTTY === true;
  }

  /** Redraws the line with a label (a training state, or any text) and the fraction done. */
  update(label: ProgressState | string, overall: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && overall < 1) return;
    this.lastDraw = now;
    const eta = etaSeconds((now - this.started) / 1000, overall);
    const text = typeof label === 'string' ? label : trainingLabel(label);
    const line = formatBar(text, overall, eta).slice(0, (this.stream!.columns ?? 120) - 1);
    this.stream!.write(`\r\x1b[2K${line}`);
  }

  done(): void {
    if (this.enabled) this.stream!.write('\r\x1b[2K');
  }
}
