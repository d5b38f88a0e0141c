/**
 * Tensors that stay the same across the forward passes of one call whose weights do not change (a generation's
 * decoding steps, an evaluation's batches, a training step's micro-batches): each made at its first use, kept through
 * the passes' tidy scopes, and freed with the cache. DoRA's weight norms are such: formed once per call rather than
 * once per pass, each of which would read every weight matrix again. Only what takes no gradient belongs here.
 */
import { tf, type Tensor } from '../engine/tf.js';

export class ForwardConstants {
  private readonly made = new Map<object, Tensor>();

  /** The tensor `owner` made for this call, made now by `make` if it has none yet. */
  get(owner: object, make: () => Tensor): Tensor {
    let tensor = this.made.get(owner);
    if (tensor === undefined) {
      tensor = tf.keep(make());
      this.made.set(owner, tensor);
    }
    return tensor;
  }

  /**
   * The tensors `owners` made for this call, made now all together by `make` (one per owner, in order) if any owner
   * has none yet — where one dispatch forms several (DoRA's weight norms); one made for an owner that had one is freed.
   */
  getMany(owners: readonly object[], make: () => Tensor[]): Tensor[] {
    if (owners.some((owner) => !this.made.has(owner))) {
      const tensors = make();
      owners.forEach((owner, i) => {
        if (this.made.has(owner)) tensors[i]!.dispose();
        else this.made.set(owner, tf.keep(tensors[i]!));
      });
    }
    return owners.map((owner) => this.made.get(owner)!);
  }

  dispose(): void {
    this.made.forEach((tensor) => tensor.dispose());
    this.made.clear();
  }
}
