/**
 * An Identity kernel for wasm that shares the input's buffer instead of copying it, as tfjs-backend-cpu's does.
 *
 * tfjs saves every tensor a gradient needs by cloning it (`Engine.saveTensorsForBackwardMode`, customGrad's `save`),
 * and a clone is an Identity kernel. tfjs-backend-wasm's Identity copies the data, so a training step held a second
 * copy of nearly every activation (measured: 45 copies of [16, 384, 64] per decoder layer of stories260K). Tensors are
 * immutable and a Variable's `assign` swaps its buffer rather than writing into it, so sharing is safe; wasm's own
 * Reshape already shares buffers the same way (reference counted).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { sharedOutput } from './backend-output.js';

export function sharedIdentityKernel(backendName: string, copying: KernelFunc | undefined): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    // String tensors live outside the wasm heap: the backend's own kernel handles them.
    if (x.dtype === 'string' && copying !== undefined) return copying(args);
    return sharedOutput(args.backend, x);
  };
  return { kernelName: 'Identity', backendName, kernelFunc };
}
