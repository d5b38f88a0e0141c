/**
 * The parameter-free noise of one MonteCLoRA forward pass (docs/monteclora.md §2), drawn from the seeded Rng:
 *  - gaussian: Z_g, N × d_in × r standard normals;
 *  - chiSquare: the r diagonal entries of a Wishart(df = r, I_r) draw, which are i.i.d. χ²_r (the spec's shortcut
 *    with the same distribution as Bartlett's LLᵀ diagonal), each a sum of r squared normals;
 *  - mixture: z_d, N standard normals for the mixture weights.
 * NoiseBuffer draws `size` of these in one batch ahead and serves them in order; each is used once.
 */
import type { Rng } from '../../engine/rng.js';

export interface LayerNoise {
  readonly gaussian: Float32Array;
  readonly chiSquare: Float32Array;
  readonly mixture: Float32Array;
}

export function chiSquareDraws(rng: Rng, count: number, degrees: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let k = 0; k < degrees; k++) sum += rng.normal() ** 2;
    out[i] = sum;
  }
  return out;
}

export function drawLayerNoise(rng: Rng, components: number, inFeatures: number, rank: number): LayerNoise {
  return {
    gaussian: rng.normalArray(components * inFeatures * rank),
    chiSquare: chiSquareDraws(rng, rank, rank),
    mixture: rng.normalArray(components),
  };
}

export class NoiseBuffer {
  private buffer: LayerNoise[] = [];
  /** Draws served so far (a refill happens every `size`). */
  served = 0;

  constructor(
    private readonly rng: Rng,
    private readonly size: number,
    private readonly shape: { components: number; inFeatures: number; rank: number },
  ) {}

  next(): LayerNoise {
    if (this.buffer.length === 0) {
      const { components, inFeatures, rank } = this.shape;
      this.buffer = Array.from({ length: this.size }, () => drawLayerNoise(this.rng, components, inFeatures, rank));
    }
    this.served += 1;
    return this.buffer.shift()!;
  }
}
