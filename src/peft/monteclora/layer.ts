/**
 * A MonteCLoRA layer (docs/monteclora.md §2): LoRA whose A is, in training, the mean plus a sampled perturbation
 *   Ã = Aᵀ + ε·Σ_n w_n E_n,   E_n = Z_g[n]·diag(√Σ),   Σ_jj = max(e^{2s_j}·c_j, 1e-3),   c_j ~ χ²_r,
 * with mixture weights w from p (logistic-normal, or exact Dirichlet). With M > 1 outer samples the perturbation is
 * the mean of M such terms, each with its own Σ_m and w_m. Eval mode is plain LoRA with the learned mean, hence
 * mergeable.
 * Each training forward keeps its Σ and w so that `regularizer()` — called in the same tape — returns
 *   R = β(KL_G + KL_W + KL_D) + C.
 */
import { tf, type Scalar, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { squaredNorm as deviceSquaredNorm } from '../../engine/ops/squared-norm.js';
import { priorRows, StackedPriors } from './priors.js';
import type { Rng } from '../../engine/rng.js';
import type { ForwardContext } from '../../models/forward-context.js';
import { LoraLayer } from '../lora/layer.js';
import { stopGradient } from '../../engine/ops/stop-gradient.js';
import type { MonteCloraConfig } from './config.js';
import { NoiseBuffer, type LayerNoise } from './noise.js';
import { concentration } from './mixture-weights.js';
import { GroupSampler, type GroupDraw, type LayerDraw } from './group-sampler.js';
import { cooperativeLoss, dirichletKl, gaussianKl, wishartKl } from './kl.js';
import {
  hostRegularizerTerms,
  regularizerShape,
  regularizerTermWeights,
  type RegularizerTermsOp,
} from './host-regularizer.js';
import { readsSynchronously } from '../../engine/host-reads.js';
import { hasRegularizerKernel, kernelRegularizer, kernelRegularizerLog } from './kernel-regularizer.js';

/** The per-layer means of the regulariser's terms and the noise-to-A ratio, in this order, as logged per step. */
export const REGULARIZER_LOG_KEYS = [
  'kl_gaussian',
  'kl_wishart',
  'kl_dirichlet',
  'cooperative_loss',
  // ‖ε Σ w E‖ / ‖A‖ over all layers together.
  'noise_to_a_ratio',
] as const;

export class MonteCloraLayer extends LoraLayer {
  /**
   * This layer's s ∈ ℝ^r (the Wishart scale is diag(e^{2s})), p ∈ ℝ^N (the Dirichlet concentration is e^p) and, for
   * the random-prior ablation, α⁰: row `priorRow` of `priors`, which an adapter's layers share (priors.ts).
   */
  priors: StackedPriors;
  priorRow = 0;
  /** Whether `priors` are this layer's own (made by its constructor) rather than shared by an adapter. */
  private ownsPriors = true;
  /** Whether a training forward samples; off in the first phase of post-hoc mode (plain LoRA then). */
  sampling = true;
  /** This layer's next noise draw, from its own seeded buffer (or the fixed draw a test passes in). */
  readonly nextNoise: () => LayerNoise;
  /**
   * e^p read back before the step (see the adapter's prepareStep), for the exact-Dirichlet sampler; undefined outside
   * training steps, when the sampler reads it synchronously.
   */
  hostConcentration: Float32Array | undefined = undefined;
  /** Draws Σ and w; a model's layers share one (see GroupSampler), a layer built alone has its own. */
  sampler: GroupSampler;
  /** What the last training forward drew, for the regulariser and the logs. */
  private sample: LayerDraw | undefined;
  private readonly monteclora: MonteCloraConfig;

  /** `noise` replaces the seeded buffer, e.g. with a fixed draw for finite-difference checks. */
  constructor(inFeatures: number, outFeatures: number, config: MonteCloraConfig, rng: Rng, noise?: () => LayerNoise) {
    super(inFeatures, outFeatures, config, rng.fork('lora'));
    this.monteclora = config;
    const priors = rng.fork('priors');
    const initialS = priors.uniformArray(config.r);
    const initialP = priors.uniformArray(config.components);
    const dirichletExponents = config.randomDirichletPrior
      ? rng.fork('dirichlet-prior').uniformArray(config.components)
      : undefined;
    this.priors = StackedPriors.ofLayer(initialS, initialP, dirichletExponents, !config.freezePriors);
    const buffer = new NoiseBuffer(rng.fork('noise'), config.bufferSize, {
      components: config.components,
      inFeatures,
      rank: config.r,
      outerSamples: config.outerSamples,
      mixture: config.mixtureWeights === 'dirichlet' ? 'uniform' : 'normal',
    });
    this.nextNoise = noise ?? (() => buffer.next());
    this.sampler = new GroupSampler([this], config);
  }

  protected override downFactors(context: ForwardContext): { a: Tensor2D; perturbation?: Tensor2D } {
    const a = this.loraA as unknown as Tensor2D;
    if (!context.training || !this.sampling) {
      this.sample = undefined;
      return { a };
    }
    const draw = this.sampler.draw(this);
    this.sample = draw;
    if (!this.monteclora.detachPerturbedA) {
      return draw.perturbedA === undefined
        ? { a, perturbation: draw.perturbation as Tensor2D }
        : { a: draw.perturbedA as Tensor2D };
    }
    // Deviation 2 (docs/monteclora.md §5): the sample becomes the new A (a random walk) and the forward uses it as a
    // constant.
    const constant = stopGradient(draw.perturbedA ?? tf.add(a, draw.perturbation)) as Tensor2D;
    this.loraA.assign(constant);
    return { a: constant };
  }

  /** β(KL_G + KL_W + KL_D) + C for this layer's last training forward; undefined outside training. */
  regularizer(): Scalar | undefined {
    return meanRegularizer([this], this.monteclora);
  }

  /** Σ and w of the last training forward (undefined after an eval forward). */
  get lastSample(): LayerDraw | undefined {
    return this.sample;
  }

  /** Makes this layer's priors row `row` of `shared`, releasing the ones it held. */
  sharePriors(shared: StackedPriors, row: number): void {
    if (this.ownsPriors) this.priors.dispose();
    this.ownsPriors = false;
    this.priors = shared;
    this.priorRow = row;
  }

  /** A, B and, while they are its own, this layer's priors (shared ones are their owner's to free). */
  override variables(): Variable[] {
    return [...super.variables(), ...(this.ownsPriors ? this.priors.variables() : [])];
  }
}

/**
 * (1/L) Σ_ℓ R_ℓ with R_ℓ = β(KL_G + KL_W + KL_D) + C, over the layers that sampled in this forward, computed on their
 * stacked tensors at once: the terms the host draw computed with the sample (host-sampler.ts), else on the host as one
 * op where tensors read synchronously (host-regularizer.ts), else by the backend's kernels (kernel-regularizer.ts,
 * which also form the weighted mean), else as kl.ts's tfjs ops. Undefined when no layer sampled (eval mode). `record`
 * receives the values of REGULARIZER_LOG_KEYS as one tensor, kept past the tape.
 */
export function meanRegularizer(
  layers: readonly MonteCloraLayer[],
  config: MonteCloraConfig,
  record?: (values: Tensor) => void,
): Scalar | undefined {
  const sampled = layers.filter((layer) => layer.lastSample !== undefined);
  if (sampled.length === 0) return undefined;
  return tf.tidy(() => {
    // One sampler draw for exactly these layers, in order: its stacked tensors are the concatenations below.
    const group = sampled[0]!.lastSample!.group;
    const whole =
      group.members === sampled.length &&
      sampled.every((layer, i) => layer.lastSample!.group === group && layer.lastSample!.index === i);
    // The host draw computed the terms with the draw, for the sampler's config (a caller may ask for another), and so
    // did the device draw where the backend fuses the two (fused-draw.ts).
    const fused = whole && group.host?.config === config ? group.host : undefined;
    const device = whole && group.device?.config === config ? group.device : undefined;
    const onHost = fused !== undefined || readsSynchronously();
    const termWeights = regularizerTermWeights(config);
    const { terms, total } =
      device ??
      (fused !== undefined
        ? weightedMean(fused.terms, termWeights, sampled.length)
        : regularizer(sampled, group, whole, config, onHost, termWeights));
    if (record !== undefined) record(tf.keep(regularizerLog(terms, sampled, onHost, whole ? group : undefined)));
    return total;
  });
}

type TermWeights = readonly [number, number, number, number];

/** The terms and (Σ_k weight_k · term_k) / layers. */
function weightedMean(terms: Tensor, termWeights: TermWeights, layers: number): { terms: Tensor; total: Scalar } {
  return { terms, total: tf.div(tf.sum(tf.mul(terms, tf.tensor1d([...termWeights]))), layers) as Scalar };
}

/** [KL_G/M, KL_W, KL_D, C/M] summed over the sampled layers, from their stacked tensors, and their weighted mean. */
function regularizer(
  sampled: readonly MonteCloraLayer[],
  group: GroupDraw,
  whole: boolean,
  config: MonteCloraConfig,
  onHost: boolean,
  termWeights: TermWeights,
): { terms: Tensor; total: Scalar } {
  const flatten = (t: Tensor) => tf.reshape(t, [-1, t.shape[t.rank - 1]!]);
  const covariance = whole
    ? flatten(group.covariance)
    : tf.concat(sampled.map((layer) => layer.lastSample!.covariance));
  const weights = whole ? flatten(group.weights) : tf.concat(sampled.map((layer) => layer.lastSample!.weights));
  const s = priorRows(sampled, 's');
  const p = priorRows(sampled, 'p');
  const prior = config.randomDirichletPrior ? priorRows(sampled, 'dirichletPrior') : config.dirichletPrior;
  const shape = regularizerShape(config);
  if (!onHost && hasRegularizerKernel())
    return kernelRegularizer({ covariance, weights, s, p }, prior, shape, termWeights);
  const terms = onHost ? hostRegularizerTerms : deviceRegularizerTerms;
  return weightedMean(terms(covariance, weights, s, concentration(p), prior, shape), termWeights, sampled.length);
}

/** kl.ts's terms as tfjs ops, [KL_G/M, KL_W, KL_D, C/M], for backends that cannot read synchronously. */
const deviceRegularizerTerms: RegularizerTermsOp = (covariance, weights, s, alpha, prior, shape) => {
  return tf.stack([
    tf.div(gaussianKl(covariance, shape.components), shape.outerSamples),
    wishartKl(s),
    dirichletKl(alpha, prior, shape.referenceSign),
    tf.div(cooperativeLoss(weights), shape.outerSamples),
  ]);
};

/**
 * The values of REGULARIZER_LOG_KEYS: the terms per layer, then ‖Σ perturbations‖ / ‖Σ A‖ over the layers (from the
 * squared norms the host draw computed, or the device draw's stacked tensors, when `group` is the layers' whole draw).
 */
function regularizerLog(
  terms: Tensor,
  sampled: readonly MonteCloraLayer[],
  onHost: boolean,
  group: GroupDraw | undefined,
): Tensor {
  // One dispatch where the backend has the kernel and the draw summed the squares (its kernels, one outer sample).
  const logged =
    onHost || group?.squares === undefined ? undefined : kernelRegularizerLog(terms, sampled.length, group.squares);
  if (logged !== undefined) return logged;
  const stacked = group?.stacked;
  const means = tf.div(terms, sampled.length);
  const norms = group?.host;
  if (onHost) {
    // Read on the host: a diagnostic, kept off the tape (on the tape it was ~100 kernels a step).
    const squaredNorm = (tensors: Tensor[]) =>
      tensors.reduce((total, t) => total + (t.dataSync() as Float32Array).reduce((sum, v) => sum + v * v, 0), 0);
    const noise = norms?.perturbationSquaredNorm ?? squaredNorm(sampled.map((layer) => layer.lastSample!.perturbation));
    const mean = norms?.aSquaredNorm ?? squaredNorm(sampled.map((layer) => layer.loraA));
    return tf.tensor1d([...means.dataSync(), Math.sqrt(noise / mean)]);
  }
  const perturbations = stacked?.perturbations ?? sampled.map((layer) => layer.lastSample!.perturbation);
  const loraA = stacked?.means ?? sampled.map((layer) => layer.loraA);
  const ratio = tf.sqrt(tf.div(deviceSquaredNorm(perturbations), deviceSquaredNorm(loraA)));
  return tf.concat([means, tf.reshape(ratio, [1])]);
}
