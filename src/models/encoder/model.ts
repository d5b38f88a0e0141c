/**
 * BERT and RoBERTa encoders (post-LN transformer, absolute position and token-type embeddings, exact GELU) with
 * their sequence-classification heads: BERT's pooler (dense + tanh on [CLS], part of the pretrained body) +
 * classifier, RoBERTa's classifier.dense + tanh + classifier.out_proj on <s>. RoBERTa counts positions from
 * padding_idx + 1. Linear layers are the same adapter-ready `Linear` the decoder uses.
 */
import { tf, type Tensor, type Tensor2D, type Tensor3D, type Variable } from '../../engine/tf.js';
import { newVariable } from '../../engine/variables.js';
import { drawDropout, dropout } from '../../engine/ops/dropout.js';
import { Linear } from '../layers/linear.js';
import { layerNorm, layerNormPassing, type LayerNormOptions } from '../layers/layer-norm.js';
import { tapeRecording } from '../../engine/ops/tape-recording.js';
import { AttentionMask, selfAttention } from '../layers/causal-attention.js';
import type { ForwardContext } from '../forward-context.js';
import { runLayers, scopesEachLayer, type LayerRun } from '../layer-scopes.js';
import type { PaddedBatch, TypedBatch } from '../tokenizers/padding.js';
import type { WeightInit, ParameterRole } from '../llama/model.js';
import type { EncoderConfig } from './config.js';
import { linearParameters, namedParameter, type NamedParameter } from '../named-parameters.js';
import { derived } from '../../engine/replay/step-values.js';

interface Norm {
  readonly weight: Variable;
  readonly bias: Variable;
}

interface EncoderLayer {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly attentionOutput: Linear;
  readonly attentionNorm: Norm;
  readonly intermediate: Linear;
  readonly output: Linear;
  readonly outputNorm: Norm;
}

/** The sequence-classification head: RoBERTa's dense + out_proj, BERT's classifier alone (its pooler is pretrained). */
interface ClassificationHead {
  readonly dense?: Linear;
  readonly out: Linear;
}

export class EncoderModel {
  readonly wordEmbeddings: Variable;
  readonly positionEmbeddings: Variable;
  readonly tokenTypeEmbeddings: Variable;
  readonly embeddingNorm: Norm;
  readonly layers: readonly EncoderLayer[];
  /** BERT's pooler.dense (followed by tanh): pretrained with the body, frozen unless an adapter targets it. */
  readonly pooler: Linear | undefined;
  /** Added for a classification task (`addClassificationHead`); trained with every method. */
  head: ClassificationHead | undefined;
  /**
   * Soft prompt [virtual tokens, hidden] set by prompt tuning, prepended to every row's word embeddings as PEFT's
   * sequence classifier prepends it: attention mask 1, token type 0, positions counted over the whole sequence (as
   * transformers counts them for inputs_embeds) — so the head reads the first virtual token's state.
   */
  promptEmbeddings: Variable | undefined;

  /** The body; the classification head comes from `addClassificationHead`. */
  constructor(
    readonly config: EncoderConfig,
    private readonly init: WeightInit,
  ) {
    const p = config.modelType;
    const d = config.hiddenSize;
    this.wordEmbeddings = this.parameter(`${p}.embeddings.word_embeddings.weight`, [config.vocabSize, d], 'embedding');
    this.positionEmbeddings = this.parameter(
      `${p}.embeddings.position_embeddings.weight`,
      [config.maxPositionEmbeddings, d],
      'embedding',
    );
    this.tokenTypeEmbeddings = this.parameter(
      `${p}.embeddings.token_type_embeddings.weight`,
      [config.typeVocabSize, d],
      'embedding',
    );
    this.embeddingNorm = this.norm(`${p}.embeddings.LayerNorm`, d);
    this.layers = Array.from({ length: config.numHiddenLayers }, (_, i) => {
      const prefix = `${p}.encoder.layer.${i}`;
      return {
        query: this.linear(`${prefix}.attention.self.query`, d, d),
        key: this.linear(`${prefix}.attention.self.key`, d, d),
        value: this.linear(`${prefix}.attention.self.value`, d, d),
        attentionOutput: this.linear(`${prefix}.attention.output.dense`, d, d),
        attentionNorm: this.norm(`${prefix}.attention.output.LayerNorm`, d),
        intermediate: this.linear(`${prefix}.intermediate.dense`, d, config.intermediateSize),
        output: this.linear(`${prefix}.output.dense`, config.intermediateSize, d),
        outputNorm: this.norm(`${prefix}.output.LayerNorm`, d),
      };
    });
    this.pooler = p === 'bert' ? this.linear('bert.pooler.dense', d, d) : undefined;
  }

  /**
   * Adds a trainable classification head of `numLabels` outputs under transformers' names, replacing any earlier one:
   * drawn by a run from its own seed, or read from a fine-tuned classifier's checkpoint while it is open.
   */
  addClassificationHead(numLabels: number, init: WeightInit): void {
    this.headVariables().forEach((variable) => variable.dispose());
    const d = this.config.hiddenSize;
    const linear = (name: string, outFeatures: number) => this.linear(name, d, outFeatures, init, true);
    this.head =
      this.config.modelType === 'bert'
        ? { out: linear('classifier', numLabels) }
        : { dense: linear('classifier.dense', d), out: linear('classifier.out_proj', numLabels) };
  }

  /** The classification head's parameters (none before `addClassificationHead`). */
  headVariables(): Variable[] {
    return this.head === undefined ? [] : headLinears(this.head).flatMap((linear) => linear.variables());
  }

  /**
   * The longest input its position embeddings cover: RoBERTa's positions start after padding_idx, and a soft prompt
   * takes its own.
   */
  get maxSequenceLength(): number {
    const { maxPositionEmbeddings, padTokenId, modelType } = this.config;
    const positions = modelType === 'bert' ? maxPositionEmbeddings : maxPositionEmbeddings - padTokenId - 1;
    return positions - this.promptLength();
  }

  private promptLength(): number {
    return this.promptEmbeddings?.shape[0] ?? 0;
  }

  /**
   * What the decoder's module names (the adapter presets' targets) are called here, so one preset adapts both:
   * attention's q/k/v/o projections, the feed-forward input (a decoder's gate and up projections are one
   * intermediate.dense here) and output. The feed-forward output is named in full per layer, because its suffix
   * (output.dense) also ends attention's output.
   */
  targetAliases(): ReadonlyMap<string, readonly string[]> {
    const ffnOutput = this.layers.map((layer) => layer.output.name);
    return new Map<string, readonly string[]>([
      ['q_proj', ['query']],
      ['k_proj', ['key']],
      ['v_proj', ['value']],
      ['o_proj', ['attention.output.dense']],
      ['gate_proj', ['intermediate.dense']],
      ['up_proj', ['intermediate.dense']],
      ['down_proj', ffnOutput],
    ]);
  }

  /** Position ids: 0, 1, … for BERT; padding_idx + 1, + 2, … over real tokens (padding_idx on padding) for RoBERTa. */
  positionIds(batch: PaddedBatch): Int32Array {
    const positions = new Int32Array(batch.ids.length);
    const pad = this.config.padTokenId;
    for (let b = 0; b < batch.batchSize; b++) {
      let count = 0;
      for (let t = 0; t < batch.length; t++) {
        const i = b * batch.length + t;
        if (this.config.modelType === 'bert') positions[i] = t;
        else positions[i] = batch.ids[i] !== pad ? pad + ++count : pad;
      }
    }
    return positions;
  }

  /**
   * The batch as the layers see it, a soft prompt prepended: word embeddings, position and token-type ids, key mask.
   * Positions with a prompt run over the whole sequence — 0, 1, … (BERT), padding_idx + 1, + 2, … (RoBERTa) — as
   * transformers numbers inputs_embeds; the batch is right-padded, so real tokens keep the positions they would have.
   */
  private embeddingInputs(batch: TypedBatch, types: Int32Array) {
    const { batchSize: B, length: T } = batch;
    const d = this.config.hiddenSize;
    const words = tf.reshape(tf.gather(this.wordEmbeddings, tf.tensor1d(batch.ids, 'int32')), [B, T, d]);
    const prompt = this.promptEmbeddings;
    // Positions made from the batch the way a replayed step makes its own (engine/replay/step-values.ts).
    const positions = derived([batch], (padded) => this.positionIds(padded));
    if (prompt === undefined) return { words, length: T, positions, types, mask: batch.mask };
    const P = prompt.shape[0]!;
    const length = P + T;
    const first = this.config.modelType === 'bert' ? 0 : this.config.padTokenId + 1;
    const prepend = (values: Int32Array, fill: number) =>
      derived([values], (given) =>
        Int32Array.from({ length: B * length }, (_, i) => {
          const t = i % length;
          return t < P ? fill : given[Math.floor(i / length) * T + t - P]!;
        }),
      );
    return {
      words: tf.concat([tf.tile(tf.reshape(prompt, [1, P, d]), [B, 1, 1]), words], 1),
      length,
      positions: Int32Array.from({ length: B * length }, (_, i) => first + (i % length)),
      types: prepend(types, 0),
      mask: prepend(batch.mask, 1),
    };
  }

  /** Last-layer hidden states [batch, length (a soft prompt's included), hidden]. Call inside tf.tidy. */
  hiddenStates(batch: TypedBatch, context: ForwardContext): Tensor {
    const { batchSize: B } = batch;
    const { hiddenSize: d, layerNormEps: eps } = this.config;
    // A single-type vocabulary (RoBERTa) has no segment embeddings to choose: every token is type 0, as
    // transformers' RoBERTa tokenizers return no token_type_ids at all.
    const types =
      batch.tokenTypeIds !== undefined && this.config.typeVocabSize > 1
        ? batch.tokenTypeIds
        : new Int32Array(batch.ids.length);
    const inputs = this.embeddingInputs(batch, types);
    const L = inputs.length;
    const gather = (table: Variable, ids: Int32Array) =>
      tf.reshape(tf.gather(table, tf.tensor1d(ids, 'int32')), [B, L, d]);
    const embedded = tf.add(
      tf.add(inputs.words, gather(this.positionEmbeddings, inputs.positions)),
      gather(this.tokenTypeEmbeddings, inputs.types),
    );
    const drop = (t: Tensor) => this.dropout(t, this.config.hiddenDropout, context);
    const x = drop(layerNorm(embedded, this.embeddingNorm.weight, this.embeddingNorm.bias, eps));
    // Each layer in a scope of its own in an evaluation pass off the tape (layer-scopes.ts); its mask's bias, made in
    // the first layer's, is then the mask's to free.
    const mask = new AttentionMask(inputs.mask, B, L, L, false, scopesEachLayer(context));
    // A sublayer's output is dropped (its hidden dropout, drawn after it as `drop` draws) as the norm adds it.
    const added = (residual: Tensor): LayerNormOptions => ({
      residual,
      residualDropout: context.training ? drawDropout(this.config.hiddenDropout, context.rng) : undefined,
    });
    // On the tape, a norm's output read by a sublayer and by the next residual connection is passed to the latter as
    // a tensor of its own, so that the norm's gradient kernel adds the two readers' gradients (layer-norm.ts).
    const passing = tapeRecording();
    const normed = (passes: boolean, input: Tensor, norm: Norm, options: LayerNormOptions) =>
      passes
        ? layerNormPassing(input, norm.weight, norm.bias, eps, options)
        : ([layerNorm(input, norm.weight, norm.bias, eps, options), undefined] as const);
    // The stream the layer before passed on for this layer's residual connection.
    let passedOn: Tensor | undefined;
    const runLayer = (layer: EncoderLayer, index: number, stream: Tensor): LayerRun => {
      const residualStream = passedOn ?? stream;
      const attended = layer.attentionOutput.forward(this.attention(stream, layer, mask, context), context);
      const [mixed, mixedPassed] = normed(passing, residualStream, layer.attentionNorm, added(attended));
      // GELU read inside the output projection's kernels in training where they can (Linear.forwardGelu).
      const output = layer.output.forwardGelu(layer.intermediate.forward(mixed, context), context);
      const last = index === this.layers.length - 1;
      const [value, passed] = normed(passing && !last, mixedPassed ?? mixed, layer.outputNorm, added(output));
      passedOn = passed;
      return { output: value };
    };
    try {
      return runLayers(this.layers, x, context, runLayer).output;
    } finally {
      mask.dispose();
    }
  }

  /**
   * Classification logits [batch, labels] from the first token ([CLS] / <s>, or a soft prompt's first virtual token).
   * Call inside tf.tidy.
   */
  classify(batch: TypedBatch, context: ForwardContext): Tensor2D {
    const head = this.head;
    if (head === undefined) throw new Error('classify() needs a classification head: call addClassificationHead first');
    if (batch.length > this.maxSequenceLength)
      throw new Error(`An encoder batch of ${batch.length} tokens exceeds the model's ${this.maxSequenceLength}.`);
    const hidden = this.hiddenStates(batch, context);
    const first = tf.reshape(tf.slice(hidden, [0, 0, 0], [-1, 1, -1]), [batch.batchSize, this.config.hiddenSize]);
    const drop = (t: Tensor) => this.dropout(t, this.config.classifierDropout, context);
    // BERT pools [CLS] with its pretrained pooler, then drops; RoBERTa drops <s>, then its head's dense layer, then
    // drops again (transformers' BertForSequenceClassification, RobertaClassificationHead).
    const pooled =
      this.pooler === undefined
        ? tf.tanh(head.dense!.forward(drop(first), context))
        : tf.tanh(this.pooler.forward(first, context));
    return head.out.forward(drop(pooled), context) as Tensor2D;
  }

  /** Every linear layer of the body, by name: where adapters are injected (the classification head is not one). */
  linears(): Linear[] {
    const layers = this.layers.flatMap((l) => [l.query, l.key, l.value, l.attentionOutput, l.intermediate, l.output]);
    return this.pooler === undefined ? layers : [...layers, this.pooler];
  }

  /** Every parameter of the model (body, head), frozen or not. */
  variables(): Variable[] {
    return this.namedParameters().map((parameter) => parameter.variable);
  }

  /** Every parameter under its transformers name, linear weights flagged (stored [in, out] here, [out, in] there). */
  namedParameters(): NamedParameter[] {
    const p = this.config.modelType;
    const norm = (prefix: string, n: Norm) => [
      namedParameter(`${prefix}.weight`, n.weight),
      namedParameter(`${prefix}.bias`, n.bias),
    ];
    return [
      namedParameter(`${p}.embeddings.word_embeddings.weight`, this.wordEmbeddings),
      namedParameter(`${p}.embeddings.position_embeddings.weight`, this.positionEmbeddings),
      namedParameter(`${p}.embeddings.token_type_embeddings.weight`, this.tokenTypeEmbeddings),
      ...norm(`${p}.embeddings.LayerNorm`, this.embeddingNorm),
      ...this.layers.flatMap((l, i) => {
        const prefix = `${p}.encoder.layer.${i}`;
        return [
          ...[l.query, l.key, l.value, l.attentionOutput].flatMap(linearParameters),
          ...norm(`${prefix}.attention.output.LayerNorm`, l.attentionNorm),
          ...[l.intermediate, l.output].flatMap(linearParameters),
          ...norm(`${prefix}.output.LayerNorm`, l.outputNorm),
        ];
      }),
      ...(this.pooler === undefined ? [] : linearParameters(this.pooler)),
      ...this.headParameters(),
    ];
  }

  /** The classification head's parameters under their transformers names. */
  headParameters(): NamedParameter[] {
    return this.head === undefined ? [] : headLinears(this.head).flatMap(linearParameters);
  }

  dispose(): void {
    this.variables().forEach((variable) => variable.dispose());
  }

  /** Dropout in training, as transformers' modules apply it (the attention probabilities' in `attention`). */
  private dropout(x: Tensor, rate: number, context: ForwardContext): Tensor {
    return context.training ? dropout(x, rate, context.rng) : x;
  }

  /** Bidirectional attention over the real keys, through the same kernels as the decoder's (no head transposes). */
  private attention(x: Tensor, layer: EncoderLayer, mask: AttentionMask, context: ForwardContext): Tensor {
    const heads = this.config.numAttentionHeads;
    const [q, k, v] = Linear.forwardShared([layer.query, layer.key, layer.value], x, context) as Tensor3D[];
    const dropped = context.training ? drawDropout(this.config.attentionDropout, context.rng) : undefined;
    return selfAttention(q, k, v, mask, { query: heads, keyValue: heads }, dropped);
  }

  private parameter(name: string, shape: number[], role: ParameterRole): Variable {
    return newVariable(() => this.init(name, shape, role), false);
  }

  private norm(prefix: string, size: number): Norm {
    return {
      weight: this.parameter(`${prefix}.weight`, [size], 'norm'),
      bias: this.parameter(`${prefix}.bias`, [size], 'bias'),
    };
  }

  private linear(name: string, inFeatures: number, outFeatures: number, init = this.init, trainable = false): Linear {
    return new Linear(
      name,
      newVariable(() => init(`${name}.weight`, [inFeatures, outFeatures], 'linear'), trainable),
      newVariable(() => init(`${name}.bias`, [outFeatures], 'bias'), trainable),
    );
  }
}

function headLinears(head: ClassificationHead): Linear[] {
  return head.dense === undefined ? [head.out] : [head.dense, head.out];
}
