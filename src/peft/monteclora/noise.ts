/**
 * The parameter-free noise of one MonteCLoRA forward pass (docs/monteclora.md §2), drawn from the seeded Rng:
 *  - gaussian: Z_g, M × N × d_in × r standard normals from counter-based bits (engine/hashed-normals.ts), keyed by one
 *    draw: a training step needs N·d_in·r of them per layer (millions for a GPU-sized model), which the device then
 *    draws where they are used; on the host they are computed from the key when first read;
 *  - chiSquare: M × r, the r diagonal entries of a Wishart(df = r, I_r) draw per outer sample, which are i.i.d. χ²_r
 *    (the spec's shortcut with the same distribution as Bartlett's LLᵀ diagonal), each a sum of r squared normals;
 *  - mixture: M × N values for the mixture weights: standard normals z_d (logistic-normal) or uniforms (the
 *    quantiles of exact Dirichlet draws).
 * M is the number of outer samples (1 unless the two-level estimator is asked for).
 * chiSquare's and mixture's normals come by the ziggurat method (a few dozen per layer).
 * NoiseBuffer draws `size` of these in one batch ahead and serves them in order; each is used once.
 */
import type { Rng } from '../../engine/rng.js';
import { drawKey } from '../../engine/counter-hash.js';
import { hashedNormalsInto } from '../../engine/kernels/random-wasm.js';

export interface LayerNoise {
  readonly gaussian: Float32Array;
  /** The key of gaussian's counter-based draw, where it was drawn so (noise made by tests may give values alone). */
  readonly gaussianKey?: number;
  readonly chiSquare: Float32Array;
  readonly mixture: Float32Array;
}

export function chiSquareDraws(rng: Rng, count: number, degrees: number): Float32Array {
  const normals = rng.zigguratNormals(count * degrees);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let k = 0; k < degrees; k++) sum += normals[i * degrees + k]! ** 2;
    out[i] = sum;
  }
  return out;
}

export interface NoiseShape {
  readonly components: number;
  readonly inFeatures: number;
  readonly rank: number;
  readonly outerSamples: number;
  /** What the mixture weights are made from. */
  readonly mixture: 'normal' | 'uniform';
}

export function drawLayerNoise(rng: Rng, shape: NoiseShape): LayerNoise {
  const { components, inFeatures, rank, outerSamples } = shape;
  const gaussianKey = drawKey(rng.nextUint32());
  let gaussian: Float32Array | undefined;
  return {
    gaussianKey,
    get gaussian() {
      if (gaussian === undefined) {
        gaussian = new Float32Array(outerSamples * components * inFeatures * rank);
        hashedNormalsInto(gaussianKey, 0, gaussian);
      }
      return gaussian;
    },
    chiSquare: chiSquareDraws(rng, outerSamples * rank, rank),
    mixture:
      shape.mixture === 'normal'
        ? rng.zigguratNormals(outerSamples * components)
        : rng.uniformArray(outerSamples * components),
  };
}

/**
 * The 4-byte words a step's writes carry of a draw (layer after layer: the counter key, the χ² draws, the mixture
 * values), by which a replayed step finds where they go (engine/replay/write-plan.ts). The Gaussians are left out: they
 * are drawn on the device from the key (and never made on the host there).
 */
export function noiseWords(noise: readonly LayerNoise[]): Uint8Array {
  const count = noise.reduce(
    (sum, draw) => sum + (draw.gaussianKey === undefined ? 0 : 1) + draw.chiSquare.length + draw.mixture.length,
    0,
  );
  const bytes = new ArrayBuffer(count * 4);
  const [keys, floats] = [new Uint32Array(bytes), new Float32Array(bytes)];
  let at = 0;
  for (const draw of noise) {
    if (draw.gaussianKey !== undefined) keys[at++] = draw.gaussianKey;
    floats.set(draw.chiSquare, at);
    floats.set(draw.mixture, at + draw.chiSquare.length);
    at += draw.chiSquare.length + draw.mixture.length;
  }
  return new Uint8Array(bytes);
}

export class NoiseBuffer {
  private buffer: LayerNoise[] = [];
  /** Draws served so far (a refill happens every `size`). */
  served = 0;

  constructor(
    private readonly rng: Rng,
    private readonly size: number,
    private readonly shape: NoiseShape,
  ) {}

  next(): LayerNoise {
    if (this.buffer.length === 0) {
      this.buffer = Array.from({ length: this.size }, () => drawLayerNoise(this.rng, this.shape));
    }
    this.served += 1;
    return this.buffer.shift()!;
  }
}
