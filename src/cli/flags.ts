import { Flags } from '@oclif/core';
import { BACKEND_REQUESTS } from '../engine/backends.js';

/** --backend for every command that computes; MCEVAL_BACKEND is read when the flag is absent. */
export const backendFlag = Flags.string({
  description:
    'Tensor backend: auto tries tensorflow (tfjs-node-gpu, tfjs-node), then wasm, then cpu. Default: $MCEVAL_BACKEND or auto.',
  options: [...BACKEND_REQUESTS],
});
