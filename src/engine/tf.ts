/**
 * The single import point of TensorFlow.js in mceval. Importing tfjs-core through here guarantees that the
 * gradient and chained-op registrations are loaded (tfjs-core's CommonJS build ships neither; see
 * scripts/build-vendor.mjs) before any op runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../vendor/tfjs-registrations.js';

export { tf };
export type {
  Scalar,
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Tensor4D,
  Variable,
  Rank,
  NamedTensorMap,
} from '@tensorflow/tfjs-core';
