/**
 * The most bytes tfjs's tensors held at once while a watch ran: training's high-water mark — weights, optimiser state
 * and the activations a step keeps for its backward pass — where tf.memory() gives only what is held when asked (between
 * two steps, none of the activations). tfjs keeps the count in its engine state's numBytes, which every allocation and
 * release adds to or takes from; while a watch runs, an accessor over that field notes its largest value, one
 * comparison per change.
 */
import { tf } from './tf.js';

interface EngineState {
  numBytes: number;
}

interface Watch {
  peak: number;
}

const watches = new Set<Watch>();
let watched: EngineState | undefined;

function install(state: EngineState): void {
  let value = state.numBytes;
  Object.defineProperty(state, 'numBytes', {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (next: number) => {
      value = next;
      for (const watch of watches) if (next > watch.peak) watch.peak = next;
    },
  });
  watched = state;
}

/** Puts the plain field back, holding the count's current value. */
function uninstall(): void {
  const state = watched!;
  const value = state.numBytes;
  delete (state as Partial<EngineState>).numBytes;
  state.numBytes = value;
  watched = undefined;
}

export interface PeakTensorBytes {
  /** The most bytes held at once since the watch began (the bytes held then, at least). */
  readonly peak: number;
  /** Ends the watch; `peak` keeps its value. */
  stop(): void;
}

/** Starts a watch of the bytes tfjs's tensors hold; watches may overlap. */
export function watchPeakTensorBytes(): PeakTensorBytes {
  const state = (tf.engine() as unknown as { state: EngineState }).state;
  // The engine replaced its state (tf.engine().reset()) since the accessor went on: move it.
  if (watched !== undefined && watched !== state) uninstall();
  const watch: Watch = { peak: state.numBytes };
  watches.add(watch);
  if (watched === undefined) install(state);
  return {
    get peak() {
      return watch.peak;
    },
    stop() {
      if (!watches.delete(watch)) return;
      if (watches.size === 0 && watched !== undefined) uninstall();
    },
  };
}

/**
 * Starts a watch of the GPU memory tfjs-webgpu's buffer pool holds — the tensors' buffers, and the freed ones it keeps
 * for reuse (webgpu-pool.ts) — on the webgpu backend; undefined on the others, whose tensors are their memory.
 */
export function watchPeakGpuBytes(): PeakTensorBytes | undefined {
  const backend = tf.backend() as { watchPoolBytes?: () => PeakTensorBytes };
  return backend.watchPoolBytes?.();
}
