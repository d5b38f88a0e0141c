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

/** The pass that waits, with its targets' data ids: what makes it run when asked for. */
interface Waiting {
  readonly sums: WaitingSums;
  readonly ids: ReadonlySet<object>;
}

/** A backend's waiting pass, if any (one at a time). */
interface WaitingSlot {
  current: Waiting | undefined;
}

interface TensorMapOwner {
  readonly tensorMap: { get(dataId: object): unknown };
}

const slots = new WeakMap<object, WaitingSlot>();

/** The backend's slot, its tensorMap's `get` wrapped the first time, so that a read runs the pass first. */
function slotOf(gpu: WebGpuBackendLike): WaitingSlot {
  const kept = slots.get(gpu);
  if (kept !== undefined) return kept;
  const slot: WaitingSlot = { current: undefined };
  const map = (gpu as unknown as TensorMapOwner).tensorMap;
  const get = map.get.bind(map);
  map.get = (dataId: object) => {
    if (slot.current?.ids.has(dataId) === true) runWaitingSums(gpu);
    return get(dataId);
  };
  slots.set(gpu, slot);
  return slot;
}

/** Keeps `sums` waiting, running first (alone) any pass that waits already. */
export function keepWaiting(gpu: WebGpuBackendLike, sums: WaitingSums): void {
  runWaitingSums(gpu);
  slotOf(gpu).current = { sums, ids: new Set(sums.targets.map((target) => target.dataId)) };
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
  const slot = slots.get(gpu);
  const waiting = slot?.current;
  if (slot === undefined || waiting === undefined || 1 + waiting.sums.targets.length > room) return undefined;
  if (inputs.some((input) => waiting.ids.has(input.dataId))) {
    runWaitingSums(gpu);
    return undefined;
  }
  slot.current = undefined;
  return waiting.sums;
}

/** Runs the waiting pass, if any, by its own dispatch. */
export function runWaitingSums(gpu: WebGpuBackendLike): void {
  const slot = slots.get(gpu);
  const waiting = slot?.current;
  if (slot === undefined || waiting === undefined) return;
  // Emptied first: the dispatch itself asks the tensorMap for the targets.
  slot.current = undefined;
  waiting.sums.runAlone();
}

/** Whether a second pass waits on `gpu` (for tests). */
export const sumsWaiting = (gpu: WebGpuBackendLike): boolean => slots.get(gpu)?.current !== undefined;
