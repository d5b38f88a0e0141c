/**
 * Tensors kept for a backward pass, made without a kernel call. tfjs keeps every tensor a gradient needs (a kernel's
 * saved inputs and outputs, a custom gradient's `save`) as a clone made by the Identity kernel and recorded on the
 * tape: tfjs's whole path for an op — scope, kernel lookup, tape node, which the backward pass then walks past — for a
 * tensor that only shares its input's data (Identity adds a reference and returns the same data on cpu and webgpu, and
 * on wasm by mceval's own kernel: kernels/shared-identity.ts). A LoRA step on stories260K made 352 such clones, a
 * MonteCLoRA step 432: on webgpu, where the host's recording is what a step waits on, about 1 ms of a 16 ms step here.
 * On those backends a saved tensor is now made as their Identity makes it, without the call and its tape node; the
 * node only matters to a gradient of a gradient, which mceval never takes. Elsewhere (tfjs-node) and for strings,
 * tfjs's clone stays.
 *
 * MCEVAL_SAVED_TENSORS: `shared` (unset) or `cloned` (tfjs's, everywhere); read as the engine starts and at each read
 * on webgpu, as the bind groups' setting is, so that a benchmark can time both in one process.
 */
import type { DataId, TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from './tf.js';
import { readTimeChoice } from './read-time-choice.js';
import { sharedOutput } from './kernels/backend-output.js';

export const SAVED_TENSORS_SETTING = 'MCEVAL_SAVED_TENSORS';

/** Backends whose Identity kernel shares its input's data (adds a reference) rather than copying it. */
const SHARING_IDENTITY = new Set(['cpu', 'webgpu', 'wasm']);

const savedTensors = readTimeChoice(SAVED_TENSORS_SETTING, ['shared', 'cloned']);

export const savedTensorsSetting = savedTensors.read;

/** Reads the setting for the tensors saved from now on. */
export const applySavedTensorsSetting = savedTensors.apply;

/** The parts of tfjs-core's engine a saved tensor is made with (its own clone, its state and tensor factory). */
interface EngineInternals {
  clone(x: Tensor): Tensor;
  backendName: string;
  backend: unknown;
  state: { tensorInfo: { get(dataId: DataId): { backend: unknown } | undefined } };
  makeTensorFromTensorInfo(info: TensorInfo, backend?: unknown): Tensor;
}

const installed = new WeakSet<object>();

/**
 * Makes the engine keep saved tensors as the module comment says (once per engine), as the setting applied last asks
 * (applySavedTensorsSetting, through engine/read-settings.ts).
 */
export function shareSavedTensors(): void {
  const engine = tf.engine() as unknown as EngineInternals;
  if (installed.has(engine)) return;
  installed.add(engine);
  const cloned = engine.clone.bind(engine);
  // tfjs-core calls clone only to keep a tensor for a gradient (saveTensorsForBackwardMode, a custom gradient's save).
  engine.clone = (x: Tensor): Tensor => {
    const holder = engine.state.tensorInfo.get(x.dataId)?.backend;
    const shares = SHARING_IDENTITY.has(engine.backendName) && x.dtype !== 'string';
    if (savedTensors.current() !== 'shared' || !shares || holder !== engine.backend) return cloned(x);
    return engine.makeTensorFromTensorInfo(sharedOutput(holder, x), holder);
  };
}
