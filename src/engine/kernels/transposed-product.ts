/**
 * The tfjs kernel `McevalTransposedProduct` for cpu and wasm: pᵀ·q for p [tokens, m] and q [tokens, n], by the
 * WebAssembly kernel of assembly/products.ts (see there for why tfjs-wasm's own matMul is slow on these shapes).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { copiedFloatOutput, inputValues } from './backend-output.js';
import { transposedProductValues } from './transposed-product-wasm.js';

export const TRANSPOSED_PRODUCT = 'McevalTransposedProduct';

const transposedProduct: KernelFunc = ({ inputs, backend }) => {
  const { p, q } = inputs as { p: TensorInfo; q: TensorInfo };
  const [tokens, m] = p.shape as [number, number];
  const n = q.shape[1]!;
  const values = transposedProductValues(inputValues(backend, p), inputValues(backend, q), tokens, m, n);
  // Made only now: making an output can grow the wasm heap and detach the input views read above.
  return copiedFloatOutput(backend, [m, n], values);
};

export function transposedProductKernel(backendName: string): KernelConfig {
  return { kernelName: TRANSPOSED_PRODUCT, backendName, kernelFunc: transposedProduct };
}
