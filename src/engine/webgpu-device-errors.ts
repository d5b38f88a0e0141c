/**
 * Errors the WebGPU device reports. Dawn rejects a command it cannot carry out — a tensor larger than the adapter
 * binds at once (maxStorageBufferBindingSize), a buffer the GPU has no memory for — by an `uncapturederror` event, not
 * by throwing: the command does nothing and what reads its output afterwards reads zeros, so a run would go on with
 * wrong numbers. A lost device fails every read with an AbortError without a message. engine/webgpu.ts keeps the
 * first such error and the backend's reads throw it as one line that says what to change: a DeviceRefusal where the
 * device refused the work for its size (a smaller batch may fit: `--eval-batch-size auto` halves on it).
 */
import { UserError } from '../errors.js';

export interface DeviceError {
  /** The error's class (GPUValidationError, GPUOutOfMemoryError, GPUInternalError), or GPUDeviceLost. */
  readonly kind: string;
  readonly message: string;
}

let pending: DeviceError | undefined;

/** Keeps the first error since the last check (the ones after it usually follow from it). */
export function recordDeviceError(error: DeviceError): void {
  pending ??= error;
}

const BINDING = /Binding size \((\d+)\).*larger than the maximum storage buffer binding size \((\d+)\)/;

/**
 * The device refused work for its size: a tensor over the binding limit, or a buffer the GPU had no memory for. The
 * device itself is intact (a command it refused did nothing), so the same work in smaller pieces can run after it.
 */
export class DeviceRefusal extends UserError {}

/** Whether the error is one the device raises for a command too large for it (see DeviceRefusal). */
const refusedForSize = (error: DeviceError) => BINDING.test(error.message) || error.kind === 'GPUOutOfMemoryError';

/** Throws, once, the error the device reported since the last check. */
export function throwIfDeviceFailed(): void {
  const error = pending;
  if (error === undefined) return;
  pending = undefined;
  const line = explainDeviceError(error);
  throw refusedForSize(error) ? new DeviceRefusal(line) : new UserError(line);
}

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;

/** One line: what the device refused and what to change. */
export function explainDeviceError(error: DeviceError): string {
  const firstLine = error.message.split('\n')[0]!.trim();
  const binding = BINDING.exec(error.message);
  if (binding !== null) {
    return (
      `WebGPU refused a tensor of ${mib(Number(binding[1]))}: this adapter binds at most ` +
      `${mib(Number(binding[2]))} at once (maxStorageBufferBindingSize), so the step's results would be wrong and ` +
      'the run stops. Use fewer tokens per step (a smaller batch size, with --grad-accum to keep the effective ' +
      'batch, or shorter sequences; in evaluation a smaller --eval-batch-size, or auto), a model whose weights are ' +
      'each under that size, or --backend wasm.'
    );
  }
  if (error.kind === 'GPUDeviceLost') {
    return (
      `The WebGPU device was lost (${firstLine}): the GPU was reset or its driver stopped it, often after a step ` +
      'that ran too long or used too much memory, and the run stops. Run it again with a smaller batch size (with ' +
      '--grad-accum to keep the effective batch), or on --backend wasm.'
    );
  }
  if (error.kind === 'GPUOutOfMemoryError') {
    return (
      `WebGPU ran out of GPU memory (${firstLine}), so the run stops: use a smaller batch size (with --grad-accum ` +
      'to keep the effective batch) or shorter sequences (in evaluation a smaller --eval-batch-size, or auto), or ' +
      '--backend wasm.'
    );
  }
  return (
    `WebGPU reported an error (${error.kind}: ${firstLine}), so results computed since would be wrong and the run ` +
    'stops. Run it on --backend wasm, and please report it.'
  );
}
