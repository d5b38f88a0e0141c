/**
 * A weight-gradient call's second pass kept waiting (weight-gradients.ts, MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS=later):
 * its gradients are returned as tensors not yet written, and the pass runs inside the next call's first dispatch — or
 * by its own dispatch as soon as anything asks tfjs's backend for one of those tensors. Every way to a tensor's buffer
 * on tfjs-webgpu (a program binding it as an input, a read, a copy, a disposal, a new reference) goes through the
 * backend's `tensorMap.get`, so a gradient is written before anything reads it, whatever reads it. In a training step
 * nothing reads a layer's weight gradients until the optimizer (or the gradients' norm), so each call's second pass is
 * carried by the next call's first, and only the last call's runs alone. One pass waits at a time per backend.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { ShaderUniform, WebGpuBackendLike } from './shader.js';
import type { ProductPlan } from './weight-gradients-wgsl.js';

export interface WaitingSums {
  /** The first pass's partial sums, which the second reads and then releases. */
  readonly partials: TensorInfo;
  /** Each product's gradient, returned already, written by the second pass. */
  readonly targets: readonly TensorInfo[];
  readonly plans: readonly ProductPlan[];
  /** The products' uniforms (productUniformValues: offsets and scales). */
  readonly values: readonly ShaderUniform[];
  /** Runs the second pass by a dispatch of its own and releases the partials. */
  readonly runAlone: () => void;
}

interface Waiting {
  sums: WaitingSums | undefined;
  /** The targets' data ids: what makes the pass run when asked for. */
  ids: ReadonlySet<object>;
}

interface TensorMapOwner {
  readonly tensorMap: { get(dataId: object): unknown };
}

const waitingOn = new WeakMap<object, Waiting>();

/** The backend's waiting state, its tensorMap's `get` wrapped the first time, so that a read runs the pass first. */
function waitingState(gpu: WebGpuBackendLike): Waiting {
  const kept = waitingOn.get(gpu);
  if (kept !== undefined) return kept;
  const waiting: Waiting = { sums: undefined, ids: new Set() };
  const map = (gpu as unknown as TensorMapOwner).tensorMap;
  const get = map.get.bind(map);
  map.get = (dataId: object) => {
    if (waiting.sums !== undefined && waiting.ids.has(dataId)) runWaitingSums(gpu);
    return get(dataId);
  };
  waitingOn.set(gpu, waiting);
  return waiting;
}

/** Keeps `sums` waiting, running first (alone) any pass that waits already. */
export function keepWaiting(gpu: WebGpuBackendLike, sums: WaitingSums): void {
  runWaitingSums(gpu);
  const state = waitingState(gpu);
  state.sums = sums;
  state.ids = new Set(sums.targets.map((target) => target.dataId));
}

/**
 * The waiting pass, no longer waiting, for a first pass with `room` storage buffers to spare to carry: none where none
 * waits, where its partials and targets need more room (it keeps waiting), or where one of `inputs` is one of its
 * targets (it then runs alone first: a dispatch must not read what it writes).
 */
export function takeWaitingSums(
  gpu: WebGpuBackendLike,
  inputs: readonly TensorInfo[],
  room: number,
): WaitingSums | undefined {
  const state = waitingOn.get(gpu);
  const sums = state?.sums;
  if (state === undefined || sums === undefined || 1 + sums.targets.length > room) return undefined;
  if (inputs.some((input) => state.ids.has(input.dataId))) {
    runWaitingSums(gpu);
    return undefined;
  }
  state.sums = undefined;
  state.ids = new Set();
  return sums;
}

/** Runs the waiting pass, if any, by its own dispatch. */
export function runWaitingSums(gpu: WebGpuBackendLike): void {
  const state = waitingOn.get(gpu);
  const sums = state?.sums;
  if (state === undefined || sums === undefined) return;
  // Cleared first: the dispatch itself asks the tensorMap for the targets.
  state.sums = undefined;
  state.ids = new Set();
  sums.runAlone();
}

/** Whether a second pass waits on `gpu` (for tests). */
export const sumsWaiting = (gpu: WebGpuBackendLike): boolean => waitingOn.get(gpu)?.sums !== undefined;
