/**
 * MonteCLoRA's per-layer priors — s ∈ ℝ^r (the Wishart scale e^{2s}), p ∈ ℝ^N (the Dirichlet concentration e^p) and,
 * for the random-prior ablation, the fixed α⁰ ∈ ℝ^N — held for a group of layers as one parameter each, a row per
 * layer: [L, r], [L, N], [L, N]. One parameter rather than one per layer because the group sampler reads every layer's
 * at once: read as they are, they need no stacking in the forward pass and no unstacking of their gradients, and the
 * optimiser updates two tensors instead of 2L — on WebGPU, whose AdamW kernel binds a few parameters per dispatch, 81
 * dispatches fewer per step on builtin:medium's 84 layers, measured when it bound three. The values are those of
 * per-layer parameters.
 */
import { tf, type Tensor, type Variable } from '../../engine/tf.js';

export type PriorName = 's' | 'p' | 'dirichletPrior';

export class StackedPriors {
  /** [L, r]. */
  readonly s: Variable;
  /** [L, N]. */
  readonly p: Variable;
  /** α⁰ [L, N] for the random-prior ablation (never trained); undefined for the symmetric prior. */
  readonly dirichletPrior: Variable | undefined;

  /** `make` returns every layer's rows (made in a tidy scope here); s and p train when `trainable`. */
  constructor(make: () => { s: Tensor; p: Tensor; dirichletPrior?: Tensor }, trainable: boolean) {
    const rows = tf.tidy(() => {
      const made = make();
      // A variable shares its initial tensor's data; the tensor itself goes with the scope.
      return {
        s: tf.variable(made.s, trainable),
        p: tf.variable(made.p, trainable),
        ...(made.dirichletPrior === undefined ? {} : { dirichletPrior: tf.variable(made.dirichletPrior, false) }),
      };
    });
    this.s = rows.s;
    this.p = rows.p;
    this.dirichletPrior = rows.dirichletPrior;
  }

  /** One layer's priors from their initial values; α⁰ = e^u from the exponents u (the random-prior ablation). */
  static ofLayer(s: Float32Array, p: Float32Array, dirichletExponents: Float32Array | undefined, trainable: boolean) {
    return new StackedPriors(
      () => ({
        s: tf.tensor2d(s, [1, s.length]),
        p: tf.tensor2d(p, [1, p.length]),
        ...(dirichletExponents === undefined
          ? {}
          : { dirichletPrior: tf.exp(tf.tensor2d(dirichletExponents, [1, p.length])) }),
      }),
      trainable,
    );
  }

  /** The rows of `parts`, in order, as one new set (on the device: nothing is read back). */
  static concat(parts: readonly StackedPriors[]): StackedPriors {
    const rows = (name: PriorName) => tf.concat(parts.map((part) => part[name]!));
    const first = parts[0]!;
    return new StackedPriors(
      () => ({
        s: rows('s'),
        p: rows('p'),
        ...(first.dirichletPrior === undefined ? {} : { dirichletPrior: rows('dirichletPrior') }),
      }),
      first.s.trainable,
    );
  }

  get rows(): number {
    return this.s.shape[0]!;
  }

  variables(): Variable[] {
    return [this.s, this.p, ...(this.dirichletPrior === undefined ? [] : [this.dirichletPrior])];
  }

  dispose(): void {
    this.variables().forEach((variable) => variable.dispose());
  }
}

/** A holder of one row of a StackedPriors: a MonteCLoRA layer. */
export interface PriorRow {
  readonly priors: StackedPriors;
  readonly priorRow: number;
}

/**
 * The holders' rows of one prior, stacked in their order: the parameter itself where they are its rows in order (an
 * adapter's layers), else their rows cut out and joined (layers sampled on their own, a subset of a group).
 */
export function priorRows(holders: readonly PriorRow[], name: PriorName): Tensor {
  const first = holders[0]!.priors;
  const whole =
    first.rows === holders.length && holders.every((holder, i) => holder.priors === first && holder.priorRow === i);
  if (whole) return first[name]!;
  return tf.concat(
    holders.map(({ priors, priorRow }) => tf.slice(priors[name]!, [priorRow, 0], [1, priors[name]!.shape[1]!])),
  );
}
