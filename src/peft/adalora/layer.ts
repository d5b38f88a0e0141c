/**
 * One AdaLoRA layer (Zhang et al. 2023), as PEFT's SVDLinear: the update is an SVD-like triplet product
 *   ΔW x = B·diag(E)·A·dropout(x) · α/(r_init + 1e-5)
 * with A, B ~ N(0, 0.02²) and E = 0, so the layer starts equal to the base layer. Pruning a triplet zeroes its E entry;
 * the scaling keeps r_init (PEFT's ranknum) even after the rank shrinks. A is stored [in, r], B [r, out], E [r].
 */
import { tf, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { linear } from '../../engine/ops/linear.js';
import { newVariable } from '../../engine/variables.js';
import { dropout } from '../../engine/ops/dropout.js';
import type { Rng } from '../../engine/rng.js';
import type { ForwardContext } from '../../models/forward-context.js';
import type { LinearAdapter } from '../../models/layers/linear.js';

const INIT_STD = 0.02;

export class AdaLoraLayer implements LinearAdapter {
  readonly loraA: Variable;
  readonly loraB: Variable;
  readonly loraE: Variable;
  readonly scaling: number;
  /** Which triplets the last budget allocation kept (PEFT's rank_pattern entry); undefined before any. */
  keptTriplets: boolean[] | undefined;

  /** `rank` is the stored rank (less than `initialRank` for an adapter loaded after pruning). */
  constructor(
    inFeatures: number,
    outFeatures: number,
    rank: number,
    initialRank: number,
    alpha: number,
    private readonly dropoutRate: number,
    rng: Rng,
  ) {
    const normal = (count: number) => rng.normalArray(count).map((value) => value * INIT_STD);
    const initialA = normal(inFeatures * rank);
    const initialB = normal(rank * outFeatures);
    this.loraA = newVariable(() => tf.tensor2d(initialA, [inFeatures, rank]), true);
    this.loraB = newVariable(() => tf.tensor2d(initialB, [rank, outFeatures]), true);
    this.loraE = newVariable(() => tf.zeros([rank]), true);
    this.scaling = alpha / (initialRank + 1e-5);
  }

  get rank(): number {
    return this.loraE.size;
  }

  /** Zeroes the E entries of pruned triplets. */
  applyKeptTriplets(): void {
    if (this.keptTriplets === undefined) return;
    const keep = this.keptTriplets;
    const masked = tf.tidy(() => tf.mul(this.loraE, tf.tensor1d(keep.map(Number))));
    this.loraE.assign(masked);
    masked.dispose();
  }

  /** A·diag(E), [in, r]: E scales A's columns, PEFT's lora_A * lora_E. */
  private scaledA(): Tensor2D {
    return tf.mul(this.loraA, this.loraE) as Tensor2D;
  }

  forward(x: Tensor, baseOutput: Tensor, context: ForwardContext): Tensor {
    const input = context.training ? dropout(x, this.dropoutRate, context.rng) : x;
    const update = linear(linear(input, this.scaledA()), this.loraB as unknown as Tensor2D);
    return tf.add(baseOutput, tf.mul(update, this.scaling));
  }

  /** The whole update ΔW in the base layer's [in, out] layout, for merging. */
  deltaWeight(): Tensor2D {
    return tf.tidy(() => tf.mul(tf.matMul(this.scaledA(), this.loraB as unknown as Tensor2D), this.scaling));
  }

  /**
   * ‖AAᵀ − I‖_F and ‖BᵀB − I‖_F in PEFT's orientation (A [r, in], B [out, r]): here AᵀA and BBᵀ, both r × r.
   * Unsquared, as PEFT computes them.
   */
  orthogonalityResiduals(): [Tensor, Tensor] {
    const eye = tf.eye(this.rank);
    const residual = (gram: Tensor) => tf.sqrt(tf.sum(tf.square(tf.sub(gram, eye))));
    const a = this.loraA as unknown as Tensor2D;
    const b = this.loraB as unknown as Tensor2D;
    return [residual(tf.matMul(a, a, true, false)), residual(tf.matMul(b, b, false, true))];
  }

  variables(): Variable[] {
    return [this.loraA, this.loraB, this.loraE];
  }
}
