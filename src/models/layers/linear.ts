/**
 * A linear layer of a model, with a seam for parameter-efficient adapters: an adapter sees the layer's input and the
 * frozen base output and returns the adapted output. Injecting an adapter sets `adapter`; the base weights stay.
 */
import { tf, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { frozenLinear, linear } from '../../engine/ops/linear.js';
import type { ForwardContext } from '../forward-context.js';

export interface LinearAdapter {
  /** Changes the layer's input before the base product (IA3 on feed-forward layers); absent for most adapters. */
  transformInput?(x: Tensor, context: ForwardContext): Tensor;
  forward(x: Tensor, baseOutput: Tensor, context: ForwardContext): Tensor;
  /**
   * The whole adapted layer at once, base product included, for an adapter that computes it more cheaply itself
   * (one op that keeps fewer activations for the backward pass); with `residual` given, residual + that output.
   * Undefined, or returning undefined, means the generic path: forward(input, base.baseForward(input)).
   */
  adaptedForward?(x: Tensor, base: Linear, context: ForwardContext, residual?: Tensor): Tensor | undefined;
}

export class Linear {
  adapter: LinearAdapter | undefined;

  constructor(
    /** The module path, as Hugging Face names it (model.layers.0.self_attn.q_proj). */
    readonly name: string,
    /** Stored [in, out] (Hugging Face stores [out, in]), so the forward product needs no transpose. */
    readonly weight: Variable,
    readonly bias?: Variable,
  ) {}

  get inFeatures(): number {
    return this.weight.shape[0]!;
  }

  get outFeatures(): number {
    return this.weight.shape[1]!;
  }

  /** The base layer alone: x·W (+ b), differentiable in W only when W is trainable. */
  baseForward(x: Tensor): Tensor {
    const w = this.weight as unknown as Tensor2D;
    const y = this.weight.trainable ? linear(x, w) : frozenLinear(x, w);
    return this.bias === undefined ? y : tf.add(y, this.bias);
  }

  /**
   * The layer's output; with `residual` given (a decoder's residual stream), residual + the output, which an adapter's
   * adaptedForward may add inside its own op (on webgpu, inside the product: no dispatch of its own).
   */
  forward(x: Tensor, context: ForwardContext, residual?: Tensor): Tensor {
    const plus = (output: Tensor) => (residual === undefined ? output : tf.add(residual, output));
    if (this.adapter === undefined) return plus(this.baseForward(x));
    const input = this.adapter.transformInput?.(x, context) ?? x;
    return (
      this.adapter.adaptedForward?.(input, this, context, residual) ??
      plus(this.adapter.forward(input, this.baseForward(input), context))
    );
  }

  variables(): Variable[] {
    return this.bias === undefined ? [this.weight] : [this.weight, this.bias];
  }
}
