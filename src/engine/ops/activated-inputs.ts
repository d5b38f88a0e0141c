/**
 * What a low-rank layer that reads an activation of its input is given (activated-low-rank-linear.ts,
 * activated-split-linear.ts): the activation's kind and inputs, and how the kernels bind those inputs — in x's place,
 * and where an input gradient's product writes their gradients instead of dx.
 */
import type { Tensor, Tensor2D } from '../tf.js';
import type { LowRankUpdate } from './low-rank-linear.js';

/** The activation x is formed by, from its inputs: SwiGLU's gating of gate and up, or GELU of h. */
export type Activated =
  | { readonly kind: 'swiglu'; readonly gate: Tensor; readonly up: Tensor }
  | { readonly kind: 'gelu'; readonly input: Tensor };

/** The activation's inputs, as the op takes them. */
export const activationInputs = (activated: Activated): Tensor[] =>
  activated.kind === 'swiglu' ? [activated.gate, activated.up] : [activated.input];

/** Those inputs flattened, as the kernels bind them in x's place, and as they bind them to write their gradients. */
export function bindings(kind: Activated['kind'], inputs: readonly Tensor2D[]) {
  const [first, second] = inputs;
  return kind === 'swiglu'
    ? { left: { gate: first, up: second }, gradient: { gradientGate: first, gradientUp: second } }
    : { left: { preActivation: first }, gradient: { gradientInput: first } };
}

/** The activation's inputs' count: the buffers x takes when it is read from them. */
export const inputCount = (kind: Activated['kind']): number => (kind === 'swiglu' ? 2 : 1);

/** The rows of x the activation's inputs form for W [in, out]; undefined where they are not [..., in] alike. */
export function rowsOf(inputs: readonly Tensor[], weight: Tensor2D): number | undefined {
  const first = inputs[0]!;
  const inFeatures = weight.shape[0];
  if (first.shape.at(-1) !== inFeatures || inputs.some((t) => t.shape.join() !== first.shape.join())) return undefined;
  return first.size / inFeatures;
}

/** The layer's operands besides x: its update, and the bias and residual where it has them. */
export interface Layer {
  readonly bias?: Tensor | undefined;
  readonly residual?: Tensor | undefined;
  readonly update: LowRankUpdate;
}

/** What the layer reads: the activation's kind and inputs, the rows of x they form, and W. */
export interface Reading {
  readonly kind: Activated['kind'];
  readonly like: readonly Tensor[];
  readonly rows: number;
  readonly weight: Tensor2D;
}
