/**
 * The share of a layer's base product that its input dropout takes away: x_r·W (+ b) (+ addend) with x_r = (1 − m) ⊙ x
 * = x − m ⊙ x, m the inverted-dropout mask (1/keep where kept, 0 where dropped), and its input gradient
 * (1 − m) ⊙ (dy·Wᵀ) (+ addend). With the dropped-out input's product x_d·W it sums to x·W: a layer whose base product
 * reads x_d (DoRA under dropout, low-rank-linear.ts's splitsAtDropout) gives the rest of x·W by this one product,
 * rather than by x·W and x_d·W both. On webgpu each is one dispatch of McevalMatrixProduct, the mask made from its
 * hash where it is read — where the rest does not go alongside the dropped part's own product (MCEVAL_WEBGPU_RESTS);
 * elsewhere tfjs's ops on the mask made already. Not differentiable: parts of a custom op.
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { MATRIX_PRODUCT, type MatrixProductAttrs } from '../kernels/webgpu/matrix-product.js';
import { productTransposedRight } from './product.js';
import { dropoutMaskOf, type InputDropout } from './input-dropout.js';
import { runOnGiven, type Given } from './run-on-given.js';

/**
 * McevalMatrixProduct with 1 − m on x's reads (`input`: x·W′ for W [in, out]) or on its product (`output`: dy·Wᵀ), where
 * the backend has it and the dropout is a hash it makes the mask from; undefined elsewhere.
 */
function onKernel(dropout: InputDropout, on: 'input' | 'output', inputs: Given<object>): Tensor2D | undefined {
  if (!hasKernel(MATRIX_PRODUCT) || !('hash' in dropout)) return undefined;
  const rest = { dropout: dropout.hash, use: 'rest' } as const;
  const attrs: MatrixProductAttrs = {
    transposeX: false,
    transposeW: on === 'output',
    ...(on === 'input' ? { inputMask: rest } : { outputMask: rest }),
  };
  return runOnGiven(MATRIX_PRODUCT, inputs, attrs) as Tensor2D;
}

/** 1 − m for x [rows, inner]. */
const restMask = (dropout: InputDropout, shape: number[]) => tf.sub(1, dropoutMaskOf(dropout, shape));

/** x_r·W + bias + addend for x [rows, in], W [in, out], a flat bias [out] and an addend [rows, out], where given. */
export function restProduct(
  x: Tensor2D,
  weight: Tensor2D,
  dropout: InputDropout,
  bias?: Tensor,
  addend?: Tensor2D,
): Tensor2D {
  const kernel = onKernel(dropout, 'input', { x, w: weight, bias, addend });
  if (kernel !== undefined) return kernel;
  return tf.tidy(() => {
    const product = tf.matMul(tf.mul(x, restMask(dropout, x.shape)), weight);
    const biased = bias === undefined ? product : tf.add(product, bias);
    return (addend === undefined ? biased : tf.add(addend, biased)) as Tensor2D;
  });
}

/** (1 − m) ⊙ (dy·Wᵀ) + addend for dy [rows, out], W [in, out] and an addend [rows, in], where given. */
export function restGradient(dy: Tensor2D, weight: Tensor2D, dropout: InputDropout, addend?: Tensor2D): Tensor2D {
  const kernel = onKernel(dropout, 'output', { x: dy, w: weight, addend });
  if (kernel !== undefined) return kernel;
  return tf.tidy(() => {
    const rest = tf.mul(productTransposedRight(dy, weight), restMask(dropout, [dy.shape[0], weight.shape[0]]));
    return (addend === undefined ? rest : tf.add(addend, rest)) as Tensor2D;
  });
}
