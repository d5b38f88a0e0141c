import { tf, type Scalar, type Tensor2D } from '../tf.js';

/** Mean cross-entropy of classification logits [batch, labels] against integer labels. */
export function classificationLoss(logits: Tensor2D, labels: readonly number[]): Scalar {
  const oneHot = tf.oneHot(tf.tensor1d([...labels], 'int32'), logits.shape[1]);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1))) as Scalar;
}
