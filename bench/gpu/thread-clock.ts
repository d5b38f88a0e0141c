/**
 * The main thread's CPU time (Linux's /proc/self/task/<pid>/schedstat, its first field in ns): what the host itself
 * spends, leaving out the driver's threads and any time the thread waits. Elsewhere than Linux, undefined.
 */
import { readFileSync } from 'node:fs';

const schedstat = `/proc/self/task/${process.pid}/schedstat`;

const readMs = () => Number(readFileSync(schedstat, 'utf8').split(' ')[0]) / 1e6;

/** Milliseconds of the main thread's CPU time so far, where the system says. */
export const threadCpuMs: (() => number) | undefined = (() => {
  try {
    return Number.isFinite(readMs()) ? readMs : undefined;
  } catch {
    return undefined;
  }
})();
