/**
 * Rows of a [rows, width] matrix by index, as tf.gather along its first axis gives them (a generation's KV cache rows
 * when its batch shrinks, or when prompts join it). Where the backend reads synchronously (wasm, cpu) the rows are
 * copied on the host from one read of the matrix, each run of consecutive indices as one block: tfjs-wasm's Gather
 * and Slice copied 8 of a [16, 1000, 256] cache's rows in 65 ms (each Slice reads its whole input), this in 10 ms.
 */
import { tf, type Tensor2D } from '../tf.js';
import { readsSynchronously } from '../host-reads.js';

export function takeRows(x: Tensor2D, index: Int32Array): Tensor2D {
  if (!readsSynchronously() || x.dtype !== 'float32') return tf.gather(x, tf.tensor1d(index, 'int32'));
  const width = x.shape[1];
  const source = x.dataSync() as Float32Array;
  const rows = new Float32Array(index.length * width);
  for (let i = 0; i < index.length;) {
    let end = i + 1;
    while (end < index.length && index[end] === index[end - 1]! + 1) end++;
    rows.set(source.subarray(index[i]! * width, (index[end - 1]! + 1) * width), i * width);
    i = end;
  }
  return tf.tensor2d(rows, [index.length, width]);
}
