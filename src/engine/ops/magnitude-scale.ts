/**
 * A product z scaled per output column by m / n — a learned magnitude m over a norm n that takes no gradient (DoRA's
 * c = m / ‖W + s·A·B‖) — less an offset, with an addend: y = addend + z ⊙ (m / n − offset). The norm is formed inside
 * the op, where no gradient is recorded (tfjs would otherwise keep, and differentiate, what it was formed from).
 * Gradients: z's dy ⊙ (m / n − offset), m's the column sums of dy ⊙ z over n, the addend's dy. On webgpu each way is
 * one dispatch (McevalMagnitudeScale, McevalMagnitudeScaleGrad; the gradients of several scalings over the same rows
 * share one, magnitudeScaleGradients); elsewhere tfjs's ops, in the order PEFT's sum takes.
 */
import { tf, type Tensor } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import {
  MAGNITUDE_SCALE,
  MAGNITUDE_SCALE_GRAD,
  magnitudeGradientsPerDispatch,
  type MagnitudeScaleAttrs,
  type MagnitudeScaleGradAttrs,
} from '../kernels/webgpu/magnitude-scale.js';
import type { WebGpuBackendLike } from '../kernels/webgpu/shader.js';
import { numberedInputs } from './numbered-inputs.js';
import type { CustomGradientFunc } from './product.js';

/** A scale per output column: m over a norm formed when the op runs. */
export interface MagnitudeScale {
  /** [out], trainable. */
  readonly magnitude: Tensor;
  /** [out], called inside the op: its value takes no gradient. */
  readonly norms: () => Tensor;
}

/** m / n − offset, by tfjs's ops. */
const factorOf = (magnitude: Tensor, norms: Tensor, offset: number) => {
  const scale = tf.div(magnitude, norms);
  return offset === 0 ? scale : tf.sub(scale, offset);
};

/** One scaling's gradient operands: dy, z, m and n, for y = addend + z ⊙ (m / n − offset). */
export interface MagnitudeScaleOperands {
  readonly dy: Tensor;
  readonly z: Tensor;
  readonly m: Tensor;
  readonly n: Tensor;
}

/**
 * [dz, dm] for y = addend + z ⊙ (m / n − offset) given dy: dy ⊙ (m / n − offset) and the column sums of dy ⊙ z over n
 * (one McevalMagnitudeScaleGrad dispatch on webgpu). Also the gradient of a layer that scales inside its product
 * (low-rank-linear.ts).
 */
export function magnitudeScaleGradient(dy: Tensor, z: Tensor, m: Tensor, n: Tensor, offset: number): [Tensor, Tensor] {
  return magnitudeScaleGradients([{ dy, z, m, n }], offset)[0]!;
}

/**
 * magnitudeScaleGradient of several scalings over the same rows (the layers of one low-rank op that scale inside their
 * products): on webgpu as many to a McevalMagnitudeScaleGrad dispatch as the device binds, in order.
 */
export function magnitudeScaleGradients(
  scalings: readonly MagnitudeScaleOperands[],
  offset: number,
): [Tensor, Tensor][] {
  if (!hasKernel(MAGNITUDE_SCALE_GRAD))
    return scalings.map(({ dy, z, m, n }) =>
      tf.tidy((): [Tensor, Tensor] => [
        tf.mul(dy, factorOf(m, n, offset)),
        tf.div(tf.reshape(tf.sum(tf.mul(dy, z), [...Array(dy.rank - 1).keys()]), m.shape), n),
      ]),
    );
  const most = magnitudeGradientsPerDispatch(tf.backend() as unknown as WebGpuBackendLike);
  const gradients: [Tensor, Tensor][] = [];
  for (let first = 0; first < scalings.length; first += most) {
    const chunk = scalings.slice(first, first + most);
    const attrs: MagnitudeScaleGradAttrs = { offset, members: chunk.length };
    const inputs = numberedInputs(chunk.map(({ dy, z, m, n }) => ({ dy, z, m, n })));
    const outputs = tf.engine().runKernel(MAGNITUDE_SCALE_GRAD, inputs as never, attrs as never) as Tensor[];
    gradients.push(...chunk.map((_, l): [Tensor, Tensor] => [outputs[l]!, outputs[chunk.length + l]!]));
  }
  return gradients;
}

export function magnitudeScaled(z: Tensor, scale: MagnitudeScale, offset: number, addend?: Tensor): Tensor {
  const attrs: MagnitudeScaleAttrs = { offset };
  const kernels = hasKernel(MAGNITUDE_SCALE);
  const op = tf.customGrad(((...args: unknown[]) => {
    const [input, magnitude, ...rest] = args as Tensor[];
    const save = args.at(-1) as (tensors: Tensor[]) => void;
    const plus = addend === undefined ? undefined : rest[0]!;
    const norms = scale.norms();
    save([input!, magnitude!, norms]);
    const value = kernels
      ? (tf
          .engine()
          .runKernel(
            MAGNITUDE_SCALE,
            { z: input!, m: magnitude!, n: norms, ...(plus === undefined ? {} : { addend: plus }) } as never,
            attrs as never,
          ) as Tensor)
      : tf.tidy(() => {
          const scaled = tf.mul(input!, factorOf(magnitude!, norms, offset));
          return plus === undefined ? scaled : tf.add(plus, scaled);
        });
    const gradFunc = (dy: Tensor, [x, m, n]: Tensor[]) => {
      const [dz, dm] = magnitudeScaleGradient(dy, x!, m!, n!, offset);
      // The addend's gradient is the output's, passed on (ops/multi-output.ts says why no clone).
      return plus === undefined ? [dz!, dm!] : [dz!, dm!, dy];
    };
    return { value, gradFunc };
  }) as unknown as CustomGradientFunc) as (...inputs: Tensor[]) => Tensor;
  return addend === undefined ? op(z, scale.magnitude) : op(z, scale.magnitude, addend);
}
