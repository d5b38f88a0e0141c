/** Random initialisation of a model's parameters from a seed, as transformers initialises a fresh model. */
import { tf } from '../engine/tf.js';
import type { Rng } from '../engine/rng.js';
import type { WeightInit } from './llama/model.js';

/**
 * Normal(0, std) for linear and embedding weights, ones for norms, zeros for biases. Each parameter draws from its own stream, forked by
 * name, so a model's weights do not depend on the order in which its layers are built.
 */
export function randomWeightInit(rng: Rng, std: number): WeightInit {
  return (name, shape, role) => {
    const size = shape.reduce((a, b) => a * b, 1);
    if (role === 'norm') return tf.ones(shape);
    if (role === 'bias') return tf.zeros(shape);
    return tf.tensor(rng.fork(name).normalArray(size, 0, std), shape);
  };
}
