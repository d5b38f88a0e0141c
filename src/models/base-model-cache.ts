/**
 * The base weights a sweep reads once per worker: the first load of a model records each initial weight (kept,
 * sharing its memory with the model's variable until training assigns a new value), and later loads build a fresh
 * model from clones of them — the same starting point for every grid point, without reading or initialising again.
 */
import { tf, type Tensor } from '../engine/tf.js';
import { commitRecordedWork } from '../engine/refusal-retry.js';
import type { WeightInit } from './llama/model.js';
import type { Model } from './model.js';
import type { TextTokenizer } from './tokenizers/tokenizer.js';

/** Builds the model again (its architecture and config) from an init of its weights. */
export type ModelBuilder = (init: WeightInit) => Model;

interface CachedModel {
  readonly build: ModelBuilder;
  readonly weights: Map<string, Tensor>;
  readonly tokenizer: TextTokenizer;
}

export class BaseModelCache {
  private readonly models = new Map<string, CachedModel>();
  private readonly pending = new Map<string, Map<string, Tensor>>();

  /** A fresh model from the recorded weights, or undefined when `spec` was not loaded yet. */
  cached(spec: string): { model: Model; tokenizer: TextTokenizer } | undefined {
    const entry = this.models.get(spec);
    if (entry === undefined) return undefined;
    return { model: entry.build((name) => tf.clone(entry.weights.get(name)!)), tokenizer: entry.tokenizer };
  }

  /** Wraps a model's first init so that every weight it makes is remembered. */
  recording(spec: string, init: WeightInit): WeightInit {
    const weights = new Map<string, Tensor>();
    this.pending.set(spec, weights);
    return (name, shape, role) => {
      const weight = init(name, shape, role);
      weights.set(name, tf.keep(tf.clone(weight)));
      return weight;
    };
  }

  /**
   * Completes a recording once the model is built. The weights' making (a load's transposes, on webgpu) is submitted
   * now: a later command the device refuses would drop it with its own command buffer, and every run after would
   * build from weights never written.
   */
  remember(spec: string, build: ModelBuilder, tokenizer: TextTokenizer): void {
    const weights = this.pending.get(spec);
    if (weights === undefined) return;
    commitRecordedWork();
    this.pending.delete(spec);
    this.models.set(spec, { build, weights, tokenizer });
  }

  dispose(): void {
    for (const entry of [...this.models.values()]) entry.weights.forEach((weight) => weight.dispose());
    for (const weights of this.pending.values()) weights.forEach((weight) => weight.dispose());
    this.models.clear();
    this.pending.clear();
  }
}
