/**
 * Rows of a matrix picked by indices the host knows (the hidden states at a loss's target positions, each sequence's
 * last token), differentiable in the matrix. Where the rows are distinct, their gradient puts each upstream row back in
 * its place and zeros elsewhere: one gather from the upstream gradient with a zero row appended. tfjs's own Gather
 * gradient adds the rows by an unsortedSegmentSum between transposes — six dispatches a step on webgpu, where this
 * takes one (McevalRowsBack; elsewhere a pad and a gather) — and gives the same values, each sum having one term.
 * Repeated rows keep tfjs's gradient, which adds their upstream rows.
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { tidyGradient, type CustomGradientFunc } from './product.js';
import { derived } from '../replay/step-values.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { ROWS_BACK } from '../kernels/webgpu/rows-back.js';

/** tf.pad's paddings for one row of zeros after the last. */
const ZERO_ROW_BELOW: Array<[number, number]> = [
  [0, 1],
  [0, 0],
];

export function gatherRows(x: Tensor2D, rows: readonly number[]): Tensor2D {
  // Both index arrays made from `rows` (a replayed step makes its own the same way: replay/step-values.ts).
  const indices = () =>
    tf.tensor1d(
      derived([rows], (values) => Int32Array.from(values)),
      'int32',
    );
  if (new Set(rows).size !== rows.length) return tf.gather(x, indices()) as Tensor2D;
  // Row j of the gradient is upstream row k where rows[k] = j, else the appended zero row.
  const size = x.shape[0];
  const source = derived([rows], (values) => {
    const upstream = new Int32Array(size).fill(values.length);
    values.forEach((row, k) => (upstream[row] = k));
    return upstream;
  });
  const op = tf.customGrad(((input: Tensor2D, save: (tensors: Tensor[]) => void) => {
    save([]);
    return {
      value: tf.gather(input, indices()),
      gradFunc: tidyGradient((dy: Tensor) => {
        const from = tf.tensor1d(source, 'int32');
        // On webgpu one dispatch (McevalRowsBack), where the pad and the gather took two.
        if (hasKernel(ROWS_BACK)) return [tf.engine().runKernel(ROWS_BACK, { dy, source: from }) as Tensor];
        return [tf.gather(tf.pad(dy, ZERO_ROW_BELOW), from)];
      }),
    };
  }) as unknown as CustomGradientFunc) as (input: Tensor2D) => Tensor2D;
  return op(x);
}
