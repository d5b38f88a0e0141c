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

/** The text of the bar; `overall` in [0, 1] is the fraction of the whole sweep done. */
export function formatProgress(state: ProgressState, overall: number, etaSeconds: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, overall)) * width);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
  return (
    `run ${state.run}/${state.runs} ${state.label} | epoch ${state.epoch}/${state.epochs} | ` +
    `step ${state.step}/${state.steps} | loss ${state.loss.toFixed(4)} | [${bar}] ${Math.round(overall * 100)}% | ETA ${formatDuration(etaSeconds)}`
  );
}

export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;

  /** Without a stream (e.g. under --json) the bar never draws. */
  constructor(private readonly stream: NodeJS.WriteStream | null = process.stderr) {}

  get enabled(): boolean {
    return this.stream?.isTTY === true;
  }

  update(state: ProgressState, overall: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && overall < 1) return;
    this.lastDraw = now;
    const elapsed = (now - this.started) / 1000;
    const eta = overall > 0 ? (elapsed * (1 - overall)) / overall : Number.NaN;
    const line = formatProgress(state, overall, eta).slice(0, (this.stream!.columns ?? 120) - 1);
    this.stream!.write(`\r\x1b[2K${line}`);
  }

  done(): void {
    if (this.enabled) this.stream!.write('\r\x1b[2K');
  }
}
