/** What every benchmark script reads from its command line, and how it summarises repeated timings. */

/** The value after `--name` on the command line, or `fallback`. */
export function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1]! : fallback;
}

/** The middle of repeated timings (the upper one of the two middles for an even count), robust to outliers. */
export function middleTime(times: readonly number[]): number {
  return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

/** `run` once to warm up, then `count` more times: each timed call's milliseconds. */
export function timedRuns(run: () => void, count: number): number[] {
  run();
  return Array.from({ length: count }, () => {
    const started = performance.now();
    run();
    return performance.now() - started;
  });
}
