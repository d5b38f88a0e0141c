/**
 * Runs many programs in the sandbox on a pool of workers (default: one per core), each worker on its own slot —
 * its own user id where the machine allows — and reports progress after each execution. Results come back in the
 * order of the programs.
 */
import { availableParallelism } from 'node:os';
import { runProgram, type ExecutionResult, type Program, type SandboxOptions } from './run-program.js';

export interface PoolOptions extends Omit<SandboxOptions, 'slot'> {
  /** Parallel executions; defaults to the number of cores. */
  readonly workers?: number;
  readonly onResult?: (done: number, total: number, result: ExecutionResult) => void;
}

export async function runPrograms(programs: readonly Program[], options: PoolOptions): Promise<ExecutionResult[]> {
  const workers = Math.max(1, Math.min(options.workers ?? availableParallelism(), programs.length || 1));
  const results: ExecutionResult[] = new Array(programs.length);
  let next = 0;
  let done = 0;
  const worker = async (slot: number): Promise<void> => {
    while (next < programs.length) {
      const index = next++;
      const result = await runProgram(programs[index]!, { ...options, slot });
      results[index] = result;
      done += 1;
      options.onResult?.(done, programs.length, result);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, slot) => worker(slot)));
  return results;
}
