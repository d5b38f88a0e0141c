/** Random operands for the WebGPU kernel tests: standard normal matrices drawn from a seeded generator. */
import type { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor2D } from '../../src/engine/tf.js';

/** A function making [rows, columns] matrices of `rng`'s normals, drawn in call order. */
export const normalMatrices =
  (rng: Rng) =>
  (rows: number, columns: number): Tensor2D =>
    tf.tensor2d(rng.normalArray(rows * columns), [rows, columns]);
