/** The value of x with a zero gradient (PyTorch's .detach(); tfjs has no stopGradient op). */
import { tf, type Tensor } from '../tf.js';
import type { CustomGradientFunc } from './product.js';

export const stopGradient = tf.customGrad(((x: Tensor, save: (tensors: Tensor[]) => void) => {
  save([]);
  return { value: tf.clone(x), gradFunc: (dy: Tensor) => [tf.zerosLike(dy)] };
}) as unknown as CustomGradientFunc) as (x: Tensor) => Tensor;
