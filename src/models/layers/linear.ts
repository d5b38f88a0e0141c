/**
 * A linear layer of a model, with a seam for parameter-efficient adapters: an adapter sees the layer's input and the
 * frozen base output and returns the adapted output — or gives a low-rank update that the layer runs as one op, or
 * forms the whole output itself (LinearAdapter). Injecting an adapter sets `adapter`; the base weights stay.
 */
import { tf, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { normalizedLowRankLinears, normalizedPlainLinears } from '../../engine/ops/normalized-input.js';
import { frozenLinear, frozenLinearPlus, linear } from '../../engine/ops/linear.js';
import {
  lowRankLinear,
  lowRankLinears,
  type LowRankLayer,
  type LowRankUpdate,
} from '../../engine/ops/low-rank-linear.js';
import type { ForwardContext } from '../forward-context.js';
import { gatedFrozenLinearPlus } from '../../engine/ops/gated-input.js';
import { tapeRecording } from '../../engine/ops/tape-recording.js';
import { swiGlu } from './swiglu.js';
import { gelu } from './layer-norm.js';
import { activatedLowRankLinear, type Activated } from '../../engine/ops/activated-low-rank-linear.js';
import { rmsNormPassing } from './rms-norm.js';

/**
 * Whether a forward pass may form a layer's input inside its products (SwiGLU's gating, an RMSNorm): outside training,
 * where an update draws nothing, and off the tape, since those reads have no gradient.
 */
const readsInsideProducts = (context: ForwardContext) => !context.training && !tapeRecording();

export interface LinearAdapter {
  /** Changes the layer's input before the base product (IA3 on feed-forward layers); absent for most adapters. */
  transformInput?(x: Tensor, context: ForwardContext): Tensor;
  forward(x: Tensor, baseOutput: Tensor, context: ForwardContext): Tensor;
  /**
   * For an update of the form s·((m ⊙ x)·(A + P))·B over a frozen base (the LoRA family): this forward pass's A, B,
   * scaling, dropout mask and perturbation (its random draws made now), so that the layer runs as one op that keeps
   * fewer activations for the backward pass (engine/ops/low-rank-linear.ts), with the other layers reading the same
   * input where they can. Undefined, or returning undefined before drawing anything, means the generic path:
   * forward(input, base.baseForward(input)).
   */
  lowRankUpdate?(x: Tensor, base: Linear, context: ForwardContext): LowRankUpdate | undefined;
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
   * The layer's output; with `residual` given (a decoder's residual stream), residual + the output — for a low-rank
   * update, or a plain layer whose W takes no gradient here, added inside its op (on webgpu, inside the product: no
   * dispatch of its own).
   */
  forward(x: Tensor, context: ForwardContext, residual?: Tensor): Tensor {
    const update = this.lowRankUpdate(x, context);
    if (update !== undefined) return lowRankLinear(x, this.weightMatrix, this.bias, update, residual);
    // A plain layer likewise adds the residual inside its product, where W takes no gradient from it.
    if (residual !== undefined && this.plainWithoutGradient(context))
      return frozenLinearPlus(x, this.weightMatrix, residual);
    const output = this.genericForward(x, context);
    return residual === undefined ? output : tf.add(residual, output);
  }

  /**
   * forward(silu(gate)·up, context, residual): the layer's output for SwiGLU's gating (a decoder's down_proj). A
   * low-rank layer reads the gating inside its kernels where they run on webgpu (forwardActivated); outside training
   * and off the tape, so does a plain frozen layer's product on mceval's tiles, the residual added inside
   * (engine/ops/gated-input.ts). Else the gating is formed first.
   */
  forwardGated(gate: Tensor, up: Tensor, context: ForwardContext, residual?: Tensor): Tensor {
    const formed = () => swiGlu(gate, up);
    if (this.plain && residual !== undefined && readsInsideProducts(context))
      return gatedFrozenLinearPlus(gate, up, this.weightMatrix, residual) ?? this.forward(formed(), context, residual);
    return this.forwardActivated({ kind: 'swiglu', gate, up }, formed, context, residual);
  }

  /**
   * forward(GELU(h), context): the layer's output for GELU of h (an encoder's output.dense). A low-rank layer reads it
   * inside its kernels where they run on webgpu (forwardActivated); else GELU is formed first.
   */
  forwardGelu(h: Tensor, context: ForwardContext): Tensor {
    return this.forwardActivated({ kind: 'gelu', input: h }, () => gelu(h), context);
  }

  /**
   * forward(x, context, residual) for x = `formed()`, the activation `activated` of the layer's input: a low-rank
   * layer reads x inside its forward product — and on the tape its input gradient and weight gradients — where those
   * run on webgpu's kernels (engine/ops/activated-low-rank-linear.ts: a dispatch and a [tokens, in] tensor fewer, two
   * of each on the tape; the same values).
   */
  private forwardActivated(
    activated: Activated,
    formed: () => Tensor,
    context: ForwardContext,
    residual?: Tensor,
  ): Tensor {
    const like = activated.kind === 'swiglu' ? activated.gate : activated.input;
    // The update is drawn once, here, whichever way the layer then runs (forward asks again only where there is none,
    // and a missing update draws nothing).
    const update = this.lowRankUpdate(like, context);
    if (update === undefined) return this.forward(formed(), context, residual);
    return (
      activatedLowRankLinear(activated, this.weightMatrix, this.bias, update, residual) ??
      lowRankLinear(formed(), this.weightMatrix, this.bias, update, residual)
    );
  }

  /** No adapter, no bias: x·W. */
  private get plain(): boolean {
    return this.adapter === undefined && this.bias === undefined;
  }

  /**
   * No adapter, no bias, and W takes no gradient from this pass: frozen, or no tape records it (full fine-tuning's
   * layers when its model is evaluated, which then run as the frozen layers do).
   */
  private plainWithoutGradient(context: ForwardContext): boolean {
    return this.plain && (!this.weight.trainable || readsInsideProducts(context));
  }

  /**
   * The outputs of `layers`, which all read x, as each one's forward gives them (their random draws in the same
   * order). Those with low-rank updates run as one op, whose gradient in x is their sum without additions of its own
   * (engine/ops/low-rank-linear.ts): a decoder's q, k and v, or its gate and up.
   */
  static forwardShared(layers: readonly Linear[], x: Tensor, context: ForwardContext): Tensor[] {
    const outputs: (Tensor | undefined)[] = [];
    const members: { index: number; layer: LowRankLayer }[] = [];
    layers.forEach((layer, index) => {
      const update = layer.lowRankUpdate(x, context);
      if (update === undefined) outputs[index] = layer.genericForward(x, context);
      else members.push({ index, layer: { weight: layer.weightMatrix, bias: layer.bias, update } });
    });
    const shared =
      members.length === 0
        ? []
        : lowRankLinears(
            x,
            members.map(({ layer }) => layer),
          );
    members.forEach(({ index }, k) => (outputs[index] = shared[k]));
    return outputs as Tensor[];
  }

  /**
   * The outputs of `layers`, which all read RMSNorm(x) by the weight `norm` (a decoder's input norm before q, k and v,
   * its post-attention norm before gate and up), and the stream x passed on for the residual addition, as
   * rmsNormPassing passes it. Outside training and off the tape, where every layer's low-rank update runs on webgpu's
   * inline products — or every layer is plain and a decoding step's few rows run on its few-rows shader — they
   * normalize x as they load it (engine/ops/normalized-input.ts: a dispatch and a tensor fewer, the same values) and x
   * is passed on as it is; else the norm is formed first, then forwardShared.
   */
  static forwardSharedNormed(
    layers: readonly Linear[],
    x: Tensor,
    norm: Variable,
    eps: number,
    context: ForwardContext,
  ): { outputs: Tensor[]; stream: Tensor } {
    if (readsInsideProducts(context)) {
      // Outside training an update draws nothing, so asking for it again in forwardShared is the same.
      const members = layers.map((layer) => {
        const update = layer.lowRankUpdate(x, context);
        return update === undefined ? undefined : { weight: layer.weightMatrix, bias: layer.bias, update };
      });
      const spec = { weight: norm, eps };
      const outputs = members.every((member) => member !== undefined)
        ? normalizedLowRankLinears(x, spec, members)
        : layers.every((layer) => layer.plain)
          ? normalizedPlainLinears(
              x,
              spec,
              layers.map((layer) => layer.weightMatrix),
            )
          : undefined;
      // The stream is its own tensor, as rmsNormPassing's is (a clone shares x's buffer: no dispatch).
      if (outputs !== undefined) return { outputs, stream: tf.clone(x) };
    }
    const [normed, stream] = rmsNormPassing(x, norm, eps);
    return { outputs: Linear.forwardShared(layers, normed, context), stream };
  }

  /** The adapter's low-rank update for this pass, where it has one and takes the input as it is. */
  private lowRankUpdate(x: Tensor, context: ForwardContext): LowRankUpdate | undefined {
    if (this.adapter === undefined || this.adapter.transformInput !== undefined) return undefined;
    return this.adapter.lowRankUpdate?.(x, this, context);
  }

  private genericForward(x: Tensor, context: ForwardContext): Tensor {
    if (this.adapter === undefined) return this.baseForward(x);
    const input = this.adapter.transformInput?.(x, context) ?? x;
    return this.adapter.forward(input, this.baseForward(input), context);
  }

  /** W [in, out], as the low-rank op takes it. */
  private get weightMatrix(): Tensor2D {
    return this.weight as unknown as Tensor2D;
  }

  variables(): Variable[] {
    return this.bias === undefined ? [this.weight] : [this.weight, this.bias];
  }
}
