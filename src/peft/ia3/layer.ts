/**
 * IA3 (Liu et al. 2022): a learned vector l, initialised to ones, that rescales a layer's activations — its output
 * (W x + b) ⊙ l for attention layers, its input W (x ⊙ l) for feed-forward layers — as PEFT's IA3 Linear does.
 */
import { tf, type Tensor, type Variable } from '../../engine/tf.js';
import { newVariable } from '../../engine/variables.js';
import type { ForwardContext } from '../../models/forward-context.js';
import type { LinearAdapter } from '../../models/layers/linear.js';

export class Ia3Layer implements LinearAdapter {
  readonly scale: Variable;

  constructor(
    size: number,
    readonly isFeedforward: boolean,
  ) {
    this.scale = newVariable(() => tf.ones([size]), true);
  }

  transformInput(x: Tensor): Tensor {
    return this.isFeedforward ? tf.mul(x, this.scale) : x;
  }

  forward(_x: Tensor, baseOutput: Tensor, _context: ForwardContext): Tensor {
    return this.isFeedforward ? baseOutput : tf.mul(baseOutput, this.scale);
  }

  variables(): Variable[] {
    return [this.scale];
  }
}
