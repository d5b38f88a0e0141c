/**
 * What a failure inside the compute backend means for the user. tfjs-wasm's heap is one WebAssembly memory of at
 * most 4 GiB that never shrinks; when an allocation cannot grow it, the module traps ("memory access out of bounds",
 * "Aborted()") instead of reporting an allocation error. Those traps become one line saying what to change.
 */
import { UserError, errorMessage } from '../errors.js';

const WASM_TRAP = /memory access out of bounds|^Aborted\(|Cannot enlarge memory|out of memory/i;

export function explainEngineError(error: unknown, backend: string): unknown {
  if (error instanceof UserError) return error;
  const message = errorMessage(error);
  if (backend === 'wasm' && WASM_TRAP.test(message)) {
    return new UserError(
      `The wasm backend trapped (${message}), which almost always means its memory (at most 4 GiB) ran out: lower ` +
        `the batch size (--grid bs=…) or the task's sequence length, or run on --backend cpu or tfjs-node.`,
    );
  }
  return error;
}
