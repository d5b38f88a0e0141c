/**
 * A Llama-architecture decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU) with a causal-LM head and a
 * sequence-classification head that reads the last real token, as transformers' LlamaForSequenceClassification does.
 * Weights come from a `WeightInit`: random for the builtin models, read from a checkpoint by a loader.
 */
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D, type Variable } from '../../engine/tf.js';
import { newVariable } from '../../engine/variables.js';
import { linearTransposedWeight } from '../../engine/ops/linear.js';
import { rowCrossEntropy } from '../../engine/ops/cross-entropy.js';
import { drawDropout } from '../../engine/ops/dropout.js';
import { gatherRows } from '../../engine/ops/gather-rows.js';
import {
  chunkedHeadCrossEntropy,
  headChunkRows,
  logitsProduct,
  type HeadWeight,
} from '../../engine/ops/head-cross-entropy.js';
import { Linear } from '../layers/linear.js';
import { rmsNorm } from '../layers/rms-norm.js';
import {
  rotateIntoCache,
  ropeInverseFrequencies,
  ropeTables,
  joinedRopeTable,
  ropeInsideAttention,
  type HeldKeysAndValues,
  type RopeTables,
} from '../layers/rope.js';
import { AttentionMask, selfAttention } from '../layers/causal-attention.js';
import { lastTokenIndices, positionIds, type PaddedBatch } from '../tokenizers/padding.js';
import { linearParameters, namedParameter, type NamedParameter } from '../named-parameters.js';
import type { ForwardContext } from '../forward-context.js';
import { runLayers, scopesEachLayer, type LayerRun } from '../layer-scopes.js';
import { headDim, validateLlamaConfig, type LlamaConfig } from './config.js';
import { derived } from '../../engine/replay/step-values.js';

/** What a parameter is, which says how to initialise it and how a checkpoint stores it. */
export type ParameterRole = 'linear' | 'embedding' | 'norm' | 'bias';

/**
 * Supplies the value of a parameter by its Hugging Face name. Linear weights are asked for as [in, out] (checkpoints
 * store [out, in]).
 */
export type WeightInit = (name: string, shape: number[], role: ParameterRole) => Tensor;

/** New tokens for the decoder: ids and positions [batch, length], and which keys are real, past ones included. */
export interface DecoderInput {
  readonly batchSize: number;
  readonly length: number;
  readonly ids: Int32Array;
  readonly positions: Int32Array;
  /** [batch, pastLength + length]: 1 for a real token, 0 for padding. */
  readonly keyMask: Int32Array;
}

/**
 * Keys (after RoPE) and values of the positions processed so far, per layer: [batch, positions, kvHeads·headDim], whose
 * first positions — a soft prompt's, then `length` more — hold keys; on webgpu the rest is room for later steps.
 */
export interface KvCache {
  readonly keys: readonly Tensor3D[];
  readonly values: readonly Tensor3D[];
  readonly length: number;
}

interface DecoderLayer {
  readonly inputNorm: Variable;
  readonly postAttentionNorm: Variable;
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
}

export class LlamaModel {
  readonly embedTokens: Variable;
  readonly layers: readonly DecoderLayer[];
  readonly finalNorm: Variable;
  /** Untied LM head; undefined when the embeddings are tied. */
  readonly lmHead: Linear | undefined;
  /** Sequence-classification head ("score"), added for classification tasks. */
  score: Linear | undefined;
  /**
   * Soft prompt [virtual tokens, hidden] set by prompt tuning: prepended to every row's embeddings, with positions
   * counted from 0 over the whole sequence (transformers' default when PEFT passes no position ids).
   */
  promptEmbeddings: Variable | undefined;
  private readonly inverseFrequencies: Float64Array;

  constructor(
    readonly config: LlamaConfig,
    private readonly init: WeightInit,
  ) {
    validateLlamaConfig(config);
    const { hiddenSize: d, intermediateSize: m, vocabSize } = config;
    const kvDim = config.numKeyValueHeads * headDim(config);
    const qDim = config.numAttentionHeads * headDim(config);
    this.embedTokens = this.parameter('model.embed_tokens.weight', [vocabSize, d], 'embedding');
    this.layers = Array.from({ length: config.numHiddenLayers }, (_, i) => {
      const prefix = `model.layers.${i}`;
      const attn = (name: string, inF: number, outF: number): Linear =>
        this.linear(`${prefix}.self_attn.${name}`, inF, outF, config.attentionBias);
      const mlp = (name: string, inF: number, outF: number): Linear =>
        this.linear(`${prefix}.mlp.${name}`, inF, outF, config.mlpBias);
      return {
        inputNorm: this.parameter(`${prefix}.input_layernorm.weight`, [d], 'norm'),
        postAttentionNorm: this.parameter(`${prefix}.post_attention_layernorm.weight`, [d], 'norm'),
        q: attn('q_proj', d, qDim),
        k: attn('k_proj', d, kvDim),
        v: attn('v_proj', d, kvDim),
        o: attn('o_proj', qDim, d),
        gate: mlp('gate_proj', d, m),
        up: mlp('up_proj', d, m),
        down: mlp('down_proj', m, d),
      };
    });
    this.finalNorm = this.parameter('model.norm.weight', [d], 'norm');
    this.lmHead = config.tieWordEmbeddings ? undefined : this.linear('lm_head', d, vocabSize, false);
    this.inverseFrequencies = ropeInverseFrequencies(headDim(config), config.ropeTheta, config.ropeScaling);
  }

  /**
   * Adds a fresh, trainable classification head of `numLabels` outputs, replacing any earlier one. `init` lets a
   * run draw the head from its own seed rather than the model's.
   */
  addClassificationHead(numLabels: number, init: WeightInit = this.init): Linear {
    this.score?.variables().forEach((v) => v.dispose());
    const weight = newVariable(() => init('score.weight', [this.config.hiddenSize, numLabels], 'linear'), true);
    this.score = new Linear('score', weight);
    return this.score;
  }

  /** The classification head's parameters (none before `addClassificationHead`). */
  headVariables(): Variable[] {
    return this.score?.variables() ?? [];
  }

  /** Every linear layer of the decoder, by name: where adapters are injected. */
  linears(): Linear[] {
    const layers = this.layers.flatMap(layerLinears);
    return this.lmHead === undefined ? layers : [...layers, this.lmHead];
  }

  /**
   * Runs the decoder over new tokens, attending to `past` keys and values when given (generation with a KV cache).
   * Returns the final-norm hidden states [batch, length, hidden] and, with `returnCache`, the cache extended by these
   * tokens, with room on webgpu for `cacheCapacity` positions in all (a generation's prompt and new tokens), which
   * later steps write into: the past passed is given up. Call inside tf.tidy (the returned cache survives it when
   * returned from the tidy).
   */
  decode(
    input: DecoderInput,
    context: ForwardContext,
    options: { past?: KvCache; returnCache?: boolean; cacheCapacity?: number; keepPrompt?: boolean } = {},
  ): { hidden: Tensor; cache?: KvCache } {
    const { batchSize: B, length: T } = input;
    const pastLength = options.past?.length ?? 0;
    if (input.keyMask.length !== B * (pastLength + T)) {
      throw new Error(`keyMask must cover ${pastLength} past and ${T} new positions per row`);
    }
    const ids = tf.tensor1d(input.ids, 'int32');
    let x = tf.reshape(tf.gather(this.embedTokens, ids), [B, T, this.config.hiddenSize]);
    const prompt = this.promptEmbeddings;
    const P = prompt === undefined ? 0 : prompt.shape[0]!;
    // The soft prompt is prepended when a sequence starts; with a KV cache, later calls find it among the past keys.
    const prepended = options.past === undefined ? P : 0;
    const pastKeys = pastLength + (options.past === undefined ? 0 : P);
    let positions = input.positions;
    let keyMask = input.keyMask;
    if (prompt !== undefined) {
      if (prepended > 0) x = tf.concat([tf.tile(tf.reshape(prompt, [1, P, this.config.hiddenSize]), [B, 1, 1]), x], 1);
      // Positions count over the whole sequence, prompt and padding included, as transformers' forward does when
      // PEFT passes no position ids; cached steps continue that count, so cached and uncached generation agree.
      positions = new Int32Array(B * (prepended + T)).map((_, i) => P + pastLength - prepended + (i % (prepended + T)));
      const realKeys = pastLength + T;
      // Made from the mask the way a replayed step makes its own (engine/replay/step-values.ts).
      keyMask = derived([input.keyMask], (mask) =>
        new Int32Array(B * (P + realKeys)).map((_, i) => {
          const column = i % (P + realKeys);
          return column < P ? 1 : mask[Math.floor(i / (P + realKeys)) * realKeys + column - P]!;
        }),
      );
    }
    // Attention rotates the queries and keys itself where it reads no KV cache and keeps none (webgpu's shaders): a
    // cache holds its keys rotated.
    const inside = options.past === undefined && !options.returnCache && ropeInsideAttention(headDim(this.config));
    const rope: LayerRope = inside
      ? { turns: joinedRopeTable(positions, B, prepended + T, this.inverseFrequencies) }
      : { tables: ropeTables(positions, B, prepended + T, this.inverseFrequencies) };
    // Each layer in a scope of its own in an evaluation pass off the tape (layer-scopes.ts); its mask's bias, made in
    // the first layer's, is then the mask's to free.
    const mask = new AttentionMask(keyMask, B, prepended + T, pastKeys + prepended + T, true, scopesEachLayer(context));
    // The soft prompt's positions are the cache's first.
    const capacity = options.returnCache && options.cacheCapacity !== undefined ? P + options.cacheCapacity : 0;
    const eps = this.config.rmsNormEps;
    const runLayer = (layer: DecoderLayer, i: number, stream: Tensor): LayerRun => {
      // The stream passes through each norm (rmsNormPassing), so that its gradient needs no addition of its own; off
      // the tape the projections after a norm may form it themselves (Linear.forwardSharedNormed).
      const projected = Linear.forwardSharedNormed([layer.q, layer.k, layer.v], stream, layer.inputNorm, eps, context);
      const past =
        options.past === undefined
          ? undefined
          : { keys: options.past.keys[i]!, values: options.past.values[i]!, length: pastKeys };
      // Each block's output is added to the residual stream by its last projection (inside the product on webgpu).
      const attended = this.attention(projected.outputs, layer, rope, mask, context, projected.stream, past, capacity);
      const normed = [layer.gate, layer.up];
      const mlp = Linear.forwardSharedNormed(normed, attended.output, layer.postAttentionNorm, eps, context);
      const [gate, up] = mlp.outputs;
      const output = layer.down.forwardGated(gate!, up!, context, mlp.stream);
      // The keys and values leave the layer's scope only for the cache returned.
      return options.returnCache ? { output, kept: [attended.keys!, attended.values!] } : { output };
    };
    let kept: Tensor[][];
    try {
      ({ output: x, kept } = runLayers(this.layers, x, context, runLayer));
    } finally {
      mask.dispose();
    }
    const normed = rmsNorm(x, this.finalNorm, this.config.rmsNormEps);
    // The soft prompt's own positions are dropped unless asked for: callers index the real tokens.
    const hidden = prepended === 0 || options.keepPrompt ? normed : tf.slice(normed, [0, prepended, 0], [-1, T, -1]);
    if (!options.returnCache) return { hidden };
    const [keys, values] = [0, 1].map((at) => kept.map((layerKept) => layerKept[at] as Tensor3D));
    return { hidden, cache: { keys: keys!, values: values!, length: pastLength + T } };
  }

  /** Final-norm hidden states [batch, length, hidden] of a padded batch. Call inside tf.tidy. */
  hiddenStates(batch: PaddedBatch, context: ForwardContext): Tensor {
    return this.decode(
      {
        batchSize: batch.batchSize,
        length: batch.length,
        ids: batch.ids,
        // Made from the batch the way a replayed step makes its own (engine/replay/step-values.ts).
        positions: derived([batch], positionIds),
        keyMask: batch.mask,
      },
      context,
    ).hidden;
  }

  /** Next-token logits for hidden states of any leading shape [..., hidden] → [..., vocab]. Call inside tf.tidy. */
  headLogits(hidden: Tensor, context: ForwardContext): Tensor {
    if (this.lmHead !== undefined) return this.lmHead.forward(hidden, context);
    // Tied head: the embedding read as the head's [vocab, hidden] weight, frozen or trainable with the embedding.
    return linearTransposedWeight(hidden, this.embedTokens as unknown as Tensor2D, this.embedTokens.trainable);
  }

  /** Next-token logits [batch, length, vocab]. Call inside tf.tidy. */
  lmLogits(batch: PaddedBatch, context: ForwardContext): Tensor {
    return this.headLogits(this.hiddenStates(batch, context), context);
  }

  /** Final-norm hidden states [rows, hidden] at flat positions b · length + t of a padded batch. In tf.tidy. */
  hiddenAt(batch: PaddedBatch, rows: readonly number[], context: ForwardContext): Tensor2D {
    const hidden = tf.reshape(this.hiddenStates(batch, context), [-1, this.config.hiddenSize]) as Tensor2D;
    return gatherRows(hidden, rows);
  }

  /**
   * Cross-entropy [rows] of the next-token logits at flat positions b · length + t against `targets`. A head that is
   * one weight runs over chunks of rows when the rows' logits would pass `headChunkRows` (chunkedHeadCrossEntropy);
   * a head with an adapter forms them all. Call inside tf.tidy.
   */
  nextTokenCrossEntropy(
    batch: PaddedBatch,
    rows: readonly number[],
    targets: readonly number[],
    context: ForwardContext,
  ): Tensor1D {
    const hidden = this.hiddenAt(batch, rows, context);
    const head = this.plainHead();
    const chunkRows = headChunkRows(this.config.vocabSize);
    if (head === undefined || rows.length <= chunkRows)
      return rowCrossEntropy(this.headLogits(hidden, context) as Tensor2D, targets);
    return chunkedHeadCrossEntropy(hidden, head, targets, chunkRows);
  }

  /**
   * The LM head as a function of hidden rows [rows, hidden] → logits, for reading it over several chunks of rows in
   * one tf.tidy (scoring): a plain head's weight is transposed, where the backend's products need it, once rather
   * than per chunk. For evaluation; training's loss is nextTokenCrossEntropy.
   */
  chunkedHeadReader(context: ForwardContext): (hidden: Tensor2D) => Tensor2D {
    const head = this.plainHead();
    if (head === undefined) return (hidden) => this.headLogits(hidden, context) as Tensor2D;
    return logitsProduct(head.weight, head.vocabFirst);
  }

  /** The LM head as one weight — the tied embedding, or lm_head without an adapter — else undefined. */
  private plainHead(): HeadWeight | undefined {
    if (this.lmHead === undefined)
      return {
        weight: this.embedTokens as unknown as Tensor2D,
        vocabFirst: true,
        trainable: this.embedTokens.trainable,
      };
    if (this.lmHead.adapter !== undefined || this.lmHead.bias !== undefined) return undefined;
    const weight = this.lmHead.weight;
    return { weight: weight as unknown as Tensor2D, vocabFirst: false, trainable: weight.trainable };
  }

  /** Classification logits [batch, labels] from each row's last real token. Call inside tf.tidy. */
  classify(batch: PaddedBatch, context: ForwardContext): Tensor2D {
    if (this.score === undefined)
      throw new Error('classify() needs a classification head: call addClassificationHead first');
    const rows = derived([batch], (padded) => lastTokenIndices(padded).map((t, b) => b * padded.length + t));
    return this.score.forward(this.hiddenAt(batch, rows, context), context) as Tensor2D;
  }

  /** Every parameter of the model (base, heads), frozen or not. */
  variables(): Variable[] {
    const norms = this.layers.flatMap((l) => [l.inputNorm, l.postAttentionNorm]);
    const heads = [...(this.lmHead?.variables() ?? []), ...(this.score?.variables() ?? [])];
    const linears = this.layers.flatMap(layerLinears).flatMap((l) => l.variables());
    return [this.embedTokens, ...norms, this.finalNorm, ...linears, ...heads];
  }

  /**
   * The base model's parameters under their Hugging Face names, linear weights flagged (stored [in, out] here,
   * [out, in] in a checkpoint). The classification head is not included (it belongs to the task).
   */
  namedParameters(): NamedParameter[] {
    return [
      namedParameter('model.embed_tokens.weight', this.embedTokens),
      ...this.layers.flatMap((layer, i) => [
        namedParameter(`model.layers.${i}.input_layernorm.weight`, layer.inputNorm),
        namedParameter(`model.layers.${i}.post_attention_layernorm.weight`, layer.postAttentionNorm),
        ...layerLinears(layer).flatMap(linearParameters),
      ]),
      namedParameter('model.norm.weight', this.finalNorm),
      ...(this.lmHead === undefined ? [] : linearParameters(this.lmHead)),
    ];
  }

  /** The classification head's parameters under transformers' name (`score.weight`, no bias). */
  headParameters(): NamedParameter[] {
    return this.score === undefined ? [] : linearParameters(this.score);
  }

  dispose(): void {
    for (const variable of this.variables()) variable.dispose();
  }

  /**
   * Self-attention of one layer from its q, k and v projections ([batch, length, heads·headDim], no head transposes),
   * its output added to `residual`. With RoPE's tables, keys and values come back (after RoPE, past ones included; on
   * webgpu with room for `capacity` positions) for the KV cache; with `turns`, attention rotates q and k itself and
   * no cache comes back.
   */
  private attention(
    [projectedQ, projectedK, projectedV]: readonly Tensor[],
    layer: DecoderLayer,
    rope: LayerRope,
    mask: AttentionMask,
    context: ForwardContext,
    residual: Tensor,
    past?: HeldKeysAndValues,
    capacity = 0,
  ): { output: Tensor; keys?: Tensor3D; values?: Tensor3D } {
    const heads = { query: this.config.numAttentionHeads, keyValue: this.config.numKeyValueHeads };
    const dropped = context.training ? drawDropout(this.config.attentionDropout ?? 0, context.rng) : undefined;
    if ('turns' in rope) {
      const [q, k, v] = [projectedQ, projectedK, projectedV] as Tensor3D[];
      const mixed = selfAttention(q!, k!, v!, mask, heads, dropped, rope.turns);
      return { output: layer.o.forward(mixed, context, residual) };
    }
    // RoPE cuts the heads inside its op (no reshape on the tape); q comes back as [batch, length, heads·headDim].
    const { q, cache } = rotateIntoCache(projectedQ!, projectedK!, projectedV as Tensor3D, past, rope.tables, capacity);
    const { keys, values } = cache;
    const mixed = selfAttention(q as Tensor3D, keys, values, mask, heads, dropped);
    return { output: layer.o.forward(mixed, context, residual), keys, values };
  }

  private parameter(name: string, shape: number[], role: ParameterRole): Variable {
    return newVariable(() => this.init(name, shape, role), false);
  }

  private linear(name: string, inFeatures: number, outFeatures: number, withBias: boolean): Linear {
    const weight = this.parameter(`${name}.weight`, [inFeatures, outFeatures], 'linear');
    const bias = withBias ? this.parameter(`${name}.bias`, [outFeatures], 'bias') : undefined;
    return new Linear(name, weight, bias);
  }
}

/** A forward pass's RoPE: its tables, rotating before attention, or their joined form, attention rotating inside. */
type LayerRope = { readonly tables: RopeTables } | { readonly turns: Tensor };

function layerLinears(layer: DecoderLayer): Linear[] {
  return [layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down];
}
