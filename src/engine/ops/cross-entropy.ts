/**
 * Cross-entropy of each row of logits [rows, classes] against its integer label, logsumexp(z) − z[label], as one taped
 * op with the gradient dy · (softmax(z) − onehot(label)). Composed from tfjs ops instead, the backward pass would
 * also differentiate logsumexp's max — an Equal against it broadcast over every row (~1 s for 510 × 32,000 on wasm),
 * whose contribution sums to zero — and keep the forward's [rows, classes] temporaries until the step ends; here the
 * forward keeps only z, and the backward forms softmax(z) from it. On webgpu each is one of mceval's kernels
 * (kernels/webgpu/cross-entropy.ts) where tfjs ops take eight dispatches and four.
 */
import type { GradSaveFunc, NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../tf.js';
import { tidyGradient, type CustomGradientFunc } from './product.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { CROSS_ENTROPY, CROSS_ENTROPY_GRAD, type CrossEntropyAttrs } from '../kernels/webgpu/cross-entropy.js';
import { derived } from '../replay/step-values.js';

// The labels made from the caller's (a replayed step makes its own the same way: replay/step-values.ts).
const kernelAttrs = (labels: readonly number[]) =>
  ({
    labels: derived([labels], (values) => Int32Array.from(values)),
  }) satisfies CrossEntropyAttrs as unknown as NamedAttrMap;

/** z[row, label] for each row of logits [rows, classes]: [rows]. Not differentiable by itself (rowCrossEntropy is). */
export function pickedLogits(logits: Tensor2D, labels: readonly number[]): Tensor1D {
  const classes = logits.shape[1];
  const flat = labels.map((label, row) => row * classes + label);
  return tf.gather(tf.reshape(logits, [-1]), tf.tensor1d(flat, 'int32')) as Tensor1D;
}

/** logsumexp(z) − z[label] per row, untaped: [rows]. */
export function crossEntropyValue(logits: Tensor2D, labels: readonly number[]): Tensor1D {
  if (hasKernel(CROSS_ENTROPY))
    return tf.engine().runKernel(CROSS_ENTROPY, { logits }, kernelAttrs(labels)) as Tensor1D;
  return tf.tidy(() => tf.sub(tf.logSumExp(logits, 1), pickedLogits(logits, labels)));
}

/**
 * The gradient of the rows' cross-entropies with respect to their logits, softmax(z) − onehot(label), times the
 * upstream dy [rows] when given: [rows, classes].
 */
export function crossEntropyGradient(logits: Tensor2D, labels: readonly number[], dy?: Tensor1D): Tensor2D {
  if (hasKernel(CROSS_ENTROPY_GRAD)) {
    const inputs: NamedTensorMap = dy === undefined ? { logits } : { logits, dy };
    return tf.engine().runKernel(CROSS_ENTROPY_GRAD, inputs, kernelAttrs(labels)) as Tensor2D;
  }
  return tf.tidy(() => {
    // int32 then cast: tfjs-wasm 4.22's OneHot writes float32 outputs as integer bits (1 reads as 1.4e-45).
    const oneHot = tf.cast(tf.oneHot(tf.tensor1d([...labels], 'int32'), logits.shape[1]), 'float32');
    const gradient = tf.sub(tf.softmax(logits), oneHot) as Tensor2D;
    return dy === undefined ? gradient : (tf.mul(gradient, tf.expandDims(dy, 1)) as Tensor2D);
  });
}

export function rowCrossEntropy(logits: Tensor2D, labels: readonly number[]): Tensor1D {
  const rows = logits.shape[0];
  if (labels.length !== rows) throw new Error(`rowCrossEntropy: ${labels.length} labels for ${rows} rows`);
  const op = tf.customGrad(((z: Tensor2D, save: GradSaveFunc) => {
    save([z]);
    return {
      value: crossEntropyValue(z, labels),
      gradFunc: tidyGradient((dy: Tensor1D, saved: Tensor[]) => crossEntropyGradient(saved[0] as Tensor2D, labels, dy)),
    };
  }) as unknown as CustomGradientFunc) as (z: Tensor2D) => Tensor1D;
  return op(logits);
}
