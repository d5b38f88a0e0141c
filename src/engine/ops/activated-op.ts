/**
 * A low-rank layer that reads an activation of its input (activated-low-rank-linear.ts, activated-split-linear.ts):
 * what it is given — the activation's kind and inputs, and how the kernels bind those inputs in x's place and where an
 * input gradient's product writes their gradients instead of dx — and, trained, the op both run (activatedLayerOp).
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import type { ActivationGradientInputs } from '../kernels/webgpu/low-rank-product.js';
import type { LowRankUpdate } from './low-rank-linear.js';
import { runMultiOutputOp } from './multi-output.js';
import { flatten, restore } from './linear.js';
import { kernelWeightGradients, type KernelInput } from './low-rank-weight-gradients.js';
import type { Given } from './run-on-given.js';

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

/** What a trained activated layer's forward step reads: the inputs flattened, A′ (A plus its perturbation), B, the
 * residual flattened, and the op's further inputs. */
interface ForwardOperands {
  readonly flats: Tensor2D[];
  readonly factor: Tensor2D;
  readonly b: Tensor2D;
  readonly addend: Tensor2D | undefined;
  readonly more: Tensor[];
}

/** What its backward step reads: dy, the activation's inputs bound for their gradients, A′, B and what it saved. */
interface BackwardOperands {
  readonly dy: Tensor2D;
  readonly gradient: Given<ActivationGradientInputs>;
  readonly factor: Tensor2D;
  readonly b: Tensor2D;
  readonly saved: Tensor2D[];
}

/**
 * A trained layer reading an activation as one op: its inputs are the activation's inputs, A, B, the perturbation and
 * the residual where given, then `more`. `forward` forms the output and names what its backward step reads besides
 * (t = (m ⊙ x)·A′ first); `backward` forms the input gradient's product — [dFirst, dDown, dSecond]: the activation's
 * input gradients and s·dy·Bᵀ — the dy the weight gradients read, and `more`'s gradients. The weight gradients (x
 * read from the activation's inputs through the layer's dropout), a perturbation's gradient (A's, cloned: one tensor
 * for two inputs, multi-output.ts) and the residual's (the output's) are formed here.
 */
export function activatedLayerOp(
  { kind, like }: Pick<Reading, 'kind' | 'like'>,
  { residual, update }: Layer,
  more: readonly Tensor[],
  steps: {
    forward(operands: ForwardOperands): { value: Tensor2D; down: Tensor2D; saved?: Tensor[] };
    backward(operands: BackwardOperands): {
      products: readonly (Tensor2D | undefined)[];
      dy: Tensor2D;
      more?: Tensor[];
    };
  },
): Tensor {
  const perturbed = update.perturbation !== undefined;
  const inputs = [
    ...like,
    update.a,
    update.b,
    ...(perturbed ? [update.perturbation!] : []),
    ...(residual === undefined ? [] : [residual]),
    ...more,
  ];
  const [output] = runMultiOutputOp(inputs, {
    forward: (given, save) => {
      const flats = given.slice(0, like.length).map(flatten) as Tensor2D[];
      const [a, b, ...rest] = given.slice(like.length) as Tensor2D[];
      const perturbation = perturbed ? rest.shift() : undefined;
      const addend = residual === undefined ? undefined : (flatten(rest.shift()!) as Tensor2D);
      const factor = perturbation === undefined ? a! : (tf.add(a!, perturbation) as Tensor2D);
      const { value, down, saved = [] } = steps.forward({ flats, factor, b: b!, addend, more: rest });
      save([...flats, factor, b!, down, ...saved]);
      return [restore(value, like[0]!)];
    },
    backward: ([upstream], saved) => {
      const flats = saved.slice(0, like.length) as Tensor2D[];
      const [factor, b, down, ...own] = saved.slice(like.length) as Tensor2D[];
      const { gradient, left } = bindings(kind, flats);
      const dy = flatten(upstream!) as Tensor2D;
      const step = steps.backward({ dy, gradient, factor: factor!, b: b!, saved: own });
      // SwiGLU: [dGate, dDown, dUp]; GELU: [dh, dDown].
      const [dFirst, dDown, dSecond] = step.products;
      const dropout = update.dropout === undefined ? undefined : { hash: update.dropout };
      const [[dA, dB]] = kernelWeightGradients(left as KernelInput, [
        { dropout, dDown: dDown!, down: down!, dy: step.dy, dyScale: update.scaling },
      ]) as [[Tensor2D, Tensor2D]];
      const dInputs = kind === 'swiglu' ? [dFirst!, dSecond!] : [dFirst!];
      return [
        ...dInputs.map((d, i) => restore(d, like[i]!)),
        dA!,
        dB!,
        ...(perturbed ? [tf.clone(dA!)] : []),
        ...(residual === undefined ? [] : [tf.reshape(upstream!, residual.shape)]),
        ...(step.more ?? []),
      ];
    },
  });
  return output!;
}
