/**
 * Draws Σ and w for every MonteCLoRA layer of a model at once. The per-layer sampling maths (covariance, mixture
 * weights, their scales) is a few dozen tiny ops; done layer by layer it costs more kernel launches than the layer's
 * products on tfjs-wasm, so the first layer to sample in a forward pass draws for all of them, on their stacked s and
 * p, and each layer takes its slice. Every layer still draws its noise from its own seeded buffer, so the numbers
 * are those of layer-by-layer sampling. A layer's k-th sampling forward gets the group's k-th draw: every layer of a
 * model samples once per forward.
 *
 * Where tensors read synchronously and the weights are logistic-normal, the whole draw — and the regulariser's terms
 * with it — is one op computed on the host (host-sampler.ts); elsewhere (WebGPU, exact Dirichlet weights, or when
 * asked) it is the tfjs ops below, which define it — on WebGPU with logistic-normal weights, where the device binds
 * their buffers, the draw's scales with the regulariser's terms as one op (fused-draw.ts).
 */
import { tf, type Scalar, type Tensor, type Tensor3D, type Variable } from '../../engine/tf.js';
import { batchMatMul } from '../../engine/ops/batch-matmul.js';
import type { MonteCloraConfig } from './config.js';
import { noiseWords, type LayerNoise } from './noise.js';
import { concentration } from './mixture-weights.js';
import { groupMixtureWeights, sampleCovariance } from './draw-scales.js';
import { dirichletWeights } from './dirichlet-sampler.js';
import { hostGroupDraw } from './host-sampler.js';
import { readsSynchronously } from '../../engine/host-reads.js';
import { sumAll } from '../../engine/ops/sum-all.js';
import { hashedNormals } from '../../engine/ops/hashed-normals.js';
import { priorRows, type PriorRow } from './priors.js';
import { factorPerturbations, perturbedFactorKernels, perturbedFactors, type LayersDraw } from './perturbed-factors.js';
import { fusedDraw, hasFusedDraw } from './fused-draw.js';
import { regularizerShape, regularizerTermWeights } from './host-regularizer.js';
import { drawnValue } from '../../engine/replay/step-values.js';

/** One layer's part of a draw. */
export interface LayerDraw {
  /** Σ's diagonal per outer sample, [M, r]. */
  readonly covariance: Tensor;
  /** Mixture weights per outer sample, [M, N]. */
  readonly weights: Tensor;
  /** ε·Σ_n w_n E_n [d_in, r] (the mean of M such terms with M outer samples): what is added to A. */
  readonly perturbation: Tensor;
  /**
   * A + perturbation, differentiable in A, where the draw computed the sum itself (the host draw, and the device draw
   * with one outer sample); the perturbation is then a tensor made when read (off the tape for the host draw).
   */
  readonly perturbedA?: Tensor;
  /** The whole draw this layer's is a slice of, and the layer's place in it. */
  readonly group: GroupDraw;
  readonly index: number;
}

/** One draw for all members, stacked along a leading member axis: what the regulariser reads. */
export interface GroupDraw {
  readonly members: number;
  /** [L, M, r]. */
  readonly covariance: Tensor;
  /** [L, M, N]. */
  readonly weights: Tensor;
  /**
   * Σ P² and Σ A² over the members, in parts [parts, 2] (the device kernels' draw with one outer sample): what the
   * noise-to-A diagnostic adds up.
   */
  readonly squares?: Tensor;
  /**
   * Every member's P and A, stacked by their size (the draw by tfjs ops with one outer sample), so that the noise-to-A
   * diagnostic squares a few tensors rather than cutting and joining one per member.
   */
  readonly stacked?: { readonly perturbations: readonly Tensor[]; readonly means: readonly Tensor[] };
  /** The host draw's regulariser terms [KL_G/M, KL_W, KL_D, C/M] for `config`, and Σ P² and Σ A² over the members. */
  readonly host?: {
    readonly terms: Tensor;
    readonly config: MonteCloraConfig;
    readonly perturbationSquaredNorm: number;
    readonly aSquaredNorm: number;
  };
  /** The device draw's regulariser, formed with it for `config` where the backend fuses the two (fused-draw.ts). */
  readonly device?: {
    readonly terms: Tensor;
    readonly total: Scalar;
    readonly config: MonteCloraConfig;
  };
}

/** A layer as the sampler reads it: its A, its row of the priors (s, p, α⁰) and its noise. */
export interface SamplerMember extends PriorRow {
  readonly loraA: Variable;
  readonly nextNoise: () => LayerNoise;
  /** The Dirichlet concentration's values for this step, read beforehand (exact-Dirichlet sampling only). */
  readonly hostConcentration?: Float32Array;
}

export interface GroupSamplerOptions {
  /**
   * Compute the draw on the host (host-sampler.ts); by default wherever tensors read synchronously, with
   * logistic-normal weights. false keeps the tfjs ops (tests compare the two).
   */
  readonly onHost?: boolean;
}

export class GroupSampler {
  private round = 0;
  private draws: LayerDraw[] = [];
  private readonly calls = new Map<SamplerMember, number>();

  constructor(
    private readonly members: readonly SamplerMember[],
    private readonly config: MonteCloraConfig,
    private readonly options: GroupSamplerOptions = {},
  ) {}

  /** The member's sample for its next training forward (tensors owned by the caller's tidy or tape scope). */
  draw(member: SamplerMember): LayerDraw {
    const call = (this.calls.get(member) ?? 0) + 1;
    this.calls.set(member, call);
    if (call > this.round) {
      this.round = call;
      this.draws = this.drawAll();
    }
    return this.draws[this.members.indexOf(member)]!;
  }

  private drawAll(): LayerDraw[] {
    // Drawn as a value a replayed step draws again (engine/replay/step-values.ts), each layer from its own buffer.
    const noise = drawnValue(() => this.members.map((member) => member.nextNoise()), noiseWords);
    const onHost = this.options.onHost ?? (readsSynchronously() && this.config.mixtureWeights === 'logistic-normal');
    return onHost ? this.hostDraw(noise) : this.deviceDraw(noise);
  }

  private hostDraw(noise: readonly LayerNoise[]): LayerDraw[] {
    const members = this.members;
    const priors = {
      s: priorRows(members, 's'),
      p: priorRows(members, 'p'),
      ...(this.config.randomDirichletPrior ? { dirichletPrior: priorRows(members, 'dirichletPrior') } : {}),
    };
    const draw = hostGroupDraw(
      priors,
      members.map((member) => member.loraA),
      noise,
      this.config,
    );
    const group: GroupDraw = {
      members: members.length,
      covariance: draw.covariance,
      weights: draw.weights,
      host: {
        terms: draw.terms,
        config: this.config,
        perturbationSquaredNorm: draw.perturbationSquaredNorm,
        aSquaredNorm: draw.aSquaredNorm,
      },
    };
    return memberDraws(group, draw.perturbation, draw.perturbedA);
  }

  private deviceDraw(noise: readonly LayerNoise[]): LayerDraw[] {
    const { r, components: N, outerSamples: M, sampleScaler, doubleScale } = this.config;
    const L = this.members.length;
    const chiSquare = new Float32Array(L * M * r);
    noise.forEach((draw, l) => chiSquare.set(draw.chiSquare, l * M * r));
    const scale = doubleScale ? sampleScaler * sampleScaler : sampleScaler;
    const { covariance, columnScale, weights, device } = this.drawScales(
      tf.tensor3d(chiSquare, [L, M, r]),
      noise,
      scale,
    );
    const mixing = this.config.sparseMixture ? tf.cast(tf.oneHot(tf.argMax(weights, -1), N), 'float32') : weights;
    const drawn = { members: L, covariance, weights, ...(device === undefined ? {} : { device }) };
    if (M === 1) {
      const { perturbationOf, perturbedA, squares, stacked } = this.perturbations(noise, mixing, columnScale);
      const group = {
        ...drawn,
        ...(squares === undefined ? {} : { squares }),
        ...(stacked === undefined ? {} : { stacked }),
      };
      return memberDraws(group, perturbationOf, perturbedA);
    }
    const group: GroupDraw = drawn;
    const [mixingOf, scaleOf] = [mixing, columnScale].map(slices) as [Slices, Slices];
    const perturbations = noise.map((draw, l) =>
      this.meanPerturbation(draw, this.members[l]!.loraA.size, mixingOf(l), scaleOf(l)),
    );
    return memberDraws(group, (l) => perturbations[l]!);
  }

  /**
   * With M outer samples, one layer's perturbation: per m, Σ_n w_mn Z_g[m, n] as one [1, N]·[N, d_in·r] product, its
   * columns scaled by ε√Σ_m — never N copies of A — and the M terms averaged.
   */
  private meanPerturbation(noise: LayerNoise, size: number, mixing: Tensor, columnScale: Tensor): Tensor {
    const { r, components: N, outerSamples: M } = this.config;
    const terms = Array.from({ length: M }, (_, m) => {
      const z = tf.reshape(gaussians([noise], N * size, m * N * size), [N, size]);
      const rowWeights = tf.slice(mixing, [m, 0], [1, N]);
      const rowScale = tf.slice(columnScale, [m, 0], [1, r]);
      return tf.mul(tf.reshape(tf.matMul(rowWeights, z), [size / r, r]), rowScale);
    });
    return tf.div(sumAll(terms), M);
  }

  /**
   * Each layer's ε·Σ_n w_n E_n [d_in, r] (one outer sample) and A plus it: by the backend's kernels where it has them
   * (perturbed-factors.ts: each layer's A read and A′ written in its own buffer, the noise drawn where it is used, the
   * perturbations alone made only if read), else by tfjs ops on each width's stacked A (widthsOps).
   */
  private perturbations(
    noise: readonly LayerNoise[],
    mixing: Tensor,
    columnScale: Tensor,
  ): { perturbationOf: Slices; perturbedA: Tensor[]; squares?: Tensor; stacked?: GroupDraw['stacked'] } {
    const keys = noise.map((draw) => draw.gaussianKey);
    if (!perturbedFactorKernels(this.config.r) || keys.some((key) => key === undefined))
      return this.widthsOps(noise, mixing, columnScale);
    const factors = this.members.map((member) => member.loraA);
    const draw: LayersDraw = {
      mixing,
      columnScale,
      keys: keys as number[],
      rows: factors.map((a) => a.shape[0]!),
    };
    const { sums, squares } = perturbedFactors(factors, draw);
    const alone = cutWhenRead(() => factorPerturbations(draw));
    return { perturbationOf: alone, perturbedA: sums, squares };
  }

  /**
   * The perturbations and A plus them in tfjs ops, for the layers that share d_in at once, on their stacked A — a
   * handful of kernels per forward instead of a dozen per layer. The perturbations alone are cut from their stack when
   * read.
   */
  private widthsOps(
    noise: readonly LayerNoise[],
    mixing: Tensor,
    columnScale: Tensor,
  ): { perturbationOf: Slices; perturbedA: Tensor[]; stacked: NonNullable<GroupDraw['stacked']> } {
    const L = this.members.length;
    const bySize = new Map<number, number[]>();
    this.members.forEach((member, l) => {
      const size = member.loraA.size;
      bySize.set(size, [...(bySize.get(size) ?? []), l]);
    });
    const widths = [...bySize.values()];
    const stacks = widths.map((members) => tf.stack(members.map((l) => this.members[l]!.loraA)));
    const pairs = widths.map((members, w) =>
      this.widthOps(
        stacks[w]!,
        members.map((l) => noise[l]!),
        rowsOf(mixing, members, L),
        rowsOf(columnScale, members, L),
      ),
    );
    const perturbedA: Tensor[] = [];
    const perturbationOf: (() => Tensor)[] = [];
    widths.forEach((members, w) => {
      const [sumsOf, scaledOf] = [slices(pairs[w]!.sums), slices(pairs[w]!.scaled)];
      members.forEach((l, i) => {
        perturbedA[l] = sumsOf(i);
        perturbationOf[l] = () => scaledOf(i);
      });
    });
    const stacked = { perturbations: pairs.map((pair) => pair.scaled), means: stacks };
    return { perturbationOf: (l) => perturbationOf[l]!(), perturbedA, stacked };
  }

  /**
   * One width's stacked A plus its perturbations, and the perturbations, in tfjs ops: Σ_n w_n Z_g[n] as one
   * [1, N]·[N, d_in·r] product per member, batched over the members, its columns scaled by ε√Σ.
   */
  private widthOps(
    a: Tensor,
    noise: readonly LayerNoise[],
    mixing: Tensor,
    columnScale: Tensor,
  ): { sums: Tensor; scaled: Tensor } {
    const { r, components: N } = this.config;
    const [members, rows] = a.shape as [number, number, number];
    const z = tf.reshape(gaussians(noise, N * rows * r), [members, N, rows * r]);
    const mixed = batchMatMul(mixing as Tensor3D, z as Tensor3D);
    const scaled = tf.mul(tf.reshape(mixed, [members, rows, r]), columnScale);
    return { sums: tf.add(a, scaled), scaled };
  }

  /**
   * Σ and ε√Σ [L, M, r] from the stacked s and the χ² draws, and the [L, M, N] mixture weights: logistic-normal on the
   * stacked p at once — with the regulariser on them, in one op where the backend fuses the two (fused-draw.ts) — or
   * exact Dirichlet per layer.
   */
  private drawScales(
    chiSquare: Tensor,
    noise: readonly LayerNoise[],
    scale: number,
  ): { covariance: Tensor; columnScale: Tensor; weights: Tensor; device?: NonNullable<GroupDraw['device']> } {
    const { components: N, outerSamples: M } = this.config;
    const L = this.members.length;
    const [s, p] = [priorRows(this.members, 's'), priorRows(this.members, 'p')];
    if (this.config.mixtureWeights === 'dirichlet') {
      const alphaOf = slices(concentration(p));
      const weights = tf.stack(
        this.members.map((member, l) => dirichletWeights(alphaOf(l), noise[l]!.mixture, member.hostConcentration)),
      );
      return { ...sampleCovariance(s, chiSquare, scale), weights };
    }
    const z = new Float32Array(L * M * N);
    noise.forEach((draw, l) => z.set(draw.mixture, l * M * N));
    const normals = tf.tensor3d(z, [L, M, N]);
    if (!hasFusedDraw()) return { ...sampleCovariance(s, chiSquare, scale), weights: groupMixtureWeights(p, normals) };
    const config = this.config;
    const prior = config.randomDirichletPrior ? priorRows(this.members, 'dirichletPrior') : config.dirichletPrior;
    const { referenceSign } = regularizerShape(config);
    const termWeights = regularizerTermWeights(config);
    const drawn = fusedDraw(s, p, { chiSquare, noise: normals }, prior, { scale, referenceSign, termWeights });
    const { terms, total, ...scales } = drawn;
    return { ...scales, device: { terms, total, config } };
  }
}

type Slices = (l: number) => Tensor;

/**
 * Rows `members` (ascending) of a stacked [L, …] tensor: all of it, a slice where they are consecutive (an adapter
 * orders its layers so: one dispatch, and one for its gradient), else a gather (whose gradient takes several).
 */
function rowsOf(t: Tensor, members: readonly number[], L: number): Tensor {
  if (members.length === L) return t;
  const first = members[0]!;
  if (members.every((l, i) => l === first + i)) return tf.slice(t, first, members.length);
  return tf.gather(t, tf.tensor1d([...members], 'int32'));
}

/**
 * [noise.length, count]: values offset … offset + count − 1 of each layer's Z_g, drawn where the backend keeps its
 * tensors from their keys (on webgpu by the device: nothing of the layers' size made or uploaded by the host), or
 * uploaded where the noise came without one.
 */
function gaussians(noise: readonly LayerNoise[], count: number, offset = 0): Tensor {
  if (noise.every((draw) => draw.gaussianKey !== undefined)) {
    return hashedNormals(
      noise.map((draw) => draw.gaussianKey!),
      count,
      offset,
    );
  }
  const z = new Float32Array(noise.length * count);
  noise.forEach((draw, l) => z.set(draw.gaussian.subarray(offset, offset + count), l * count));
  return tf.tensor2d(z, [noise.length, count]);
}

/**
 * Each member's part of a group draw: its slices of the stacked Σ and w (cut when read), its perturbation (from
 * `perturbationOf`, called when read) and, where the draw computed it, its A + P.
 */
function memberDraws(group: GroupDraw, perturbationOf: Slices, perturbedA?: readonly Tensor[]): LayerDraw[] {
  const [covarianceOf, weightsOf] = [group.covariance, group.weights].map(slices) as [Slices, Slices];
  return Array.from({ length: group.members }, (_, l) => ({
    get covariance() {
      return covarianceOf(l);
    },
    get weights() {
      return weightsOf(l);
    },
    get perturbation() {
      return perturbationOf(l);
    },
    ...(perturbedA === undefined ? {} : { perturbedA: perturbedA[l]! }),
    group,
    index: l,
  }));
}

/**
 * Member l's slice of a stacked [L, …] tensor, cut only when read (the regulariser reads the stacked tensors): each
 * unstack is a kernel, and every slice saved for the backward pass another.
 */
function slices(t: Tensor): Slices {
  return cutWhenRead(() => (t.shape[0] === 1 ? [tf.reshape(t, t.shape.slice(1))] : tf.unstack(t)));
}

/**
 * Member l's part of what `make` makes, made at the first read and again at a read after a scope that made them has
 * freed them (a read within a tidy inside the step's: the host regulariser squares each layer's perturbation there).
 */
function cutWhenRead(make: () => Tensor[]): Slices {
  let parts: Tensor[] | undefined;
  return (l: number) => {
    if (parts === undefined || parts[l]!.isDisposed) parts = make();
    return parts[l]!;
  };
}
