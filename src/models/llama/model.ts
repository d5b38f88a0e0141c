/**
 * A Llama-architecture decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU) with a causal-LM head and a
 * sequence-classification head that reads the last real token, as transformers' LlamaForSequenceClassification does.
 * Weights come from a `WeightInit`: random for the builtin models, read from a checkpoint by a loader.
 */
import { tf, type Tensor, type Tensor2D, type Tensor3D, type Variable } from '../../engine/tf.js';
import { newVariable } from '../../engine/variables.js';
import { batchMatMul } from '../../engine/ops/batch-matmul.js';
import { Linear } from '../layers/linear.js';
import { rmsNorm } from '../layers/rms-norm.js';
import { applyRope, ropeInverseFrequencies, ropeTables, type RopeTables } from '../layers/rope.js';
import { causalAttentionBias } from '../layers/attention-bias.js';
import { lastTokenIndices, positionIds, type PaddedBatch } from '../tokenizers/padding.js';
import type { ForwardContext } from '../forward-context.js';
import { headDim, validateLlamaConfig, type LlamaConfig } from './config.js';

/**
 * Supplies the initial value of a parameter by its Hugging Face name. Linear weights are asked for as [in, out];
 * `kind` says how transformers would initialise it.
 */
export type WeightInit = (name: string, shape: number[], kind: 'normal' | 'ones' | 'zeros') => Tensor;

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
  private readonly inverseFrequencies: Float64Array;

  constructor(
    readonly config: LlamaConfig,
    private readonly init: WeightInit,
  ) {
    validateLlamaConfig(config);
    const { hiddenSize: d, intermediateSize: m, vocabSize } = config;
    const kvDim = config.numKeyValueHeads * headDim(config);
    this.embedTokens = this.parameter('model.embed_tokens.weight', [vocabSize, d], 'normal');
    this.layers = Array.from({ length: config.numHiddenLayers }, (_, i) => {
      const prefix = `model.layers.${i}`;
      const attn = (name: string, inF: number, outF: number): Linear =>
        this.linear(`${prefix}.self_attn.${name}`, inF, outF, config.attentionBias);
      const mlp = (name: string, inF: number, outF: number): Linear =>
        this.linear(`${prefix}.mlp.${name}`, inF, outF, config.mlpBias);
      return {
        inputNorm: this.parameter(`${prefix}.input_layernorm.weight`, [d], 'ones'),
        postAttentionNorm: this.parameter(`${prefix}.post_attention_layernorm.weight`, [d], 'ones'),
        q: attn('q_proj', d, d),
        k: attn('k_proj', d, kvDim),
        v: attn('v_proj', d, kvDim),
        o: attn('o_proj', d, d),
        gate: mlp('gate_proj', d, m),
        up: mlp('up_proj', d, m),
        down: mlp('down_proj', m, d),
      };
    });
    this.finalNorm = this.parameter('model.norm.weight', [d], 'ones');
    this.lmHead = config.tieWordEmbeddings ? undefined : this.linear('lm_head', d, vocabSize, false);
    this.inverseFrequencies = ropeInverseFrequencies(headDim(config), config.ropeTheta);
  }

  /**
   * Adds a fresh, trainable classification head of `numLabels` outputs, replacing any earlier one. `init` lets a
   * run draw the head from its own seed rather than the model's.
   */
  addClassificationHead(numLabels: number, init: WeightInit = this.init): Linear {
    this.score?.variables().forEach((v) => v.dispose());
    const weight = newVariable(() => init('score.weight', [this.config.hiddenSize, numLabels], 'normal'), true);
    this.score = new Linear('score', weight);
    return this.score;
  }

  /** Every linear layer of the decoder, by name: where adapters are injected. */
  linears(): Linear[] {
    const layers = this.layers.flatMap(layerLinears);
    return this.lmHead === undefined ? layers : [...layers, this.lmHead];
  }

  /** Final-norm hidden states [batch, length, hidden]. Call inside tf.tidy. */
  hiddenStates(batch: PaddedBatch, context: ForwardContext): Tensor {
    const { batchSize: B, length: T } = batch;
    const ids = tf.tensor1d(batch.ids, 'int32');
    let x = tf.reshape(tf.gather(this.embedTokens, ids), [B, T, this.config.hiddenSize]);
    const rope = ropeTables(positionIds(batch), B, T, this.inverseFrequencies);
    const bias = causalAttentionBias(batch);
    for (const layer of this.layers) {
      const attended = this.attention(rmsNorm(x, layer.inputNorm, this.config.rmsNormEps), layer, rope, bias, context);
      x = tf.add(x, attended);
      const h = rmsNorm(x, layer.postAttentionNorm, this.config.rmsNormEps);
      const gate = layer.gate.forward(h, context);
      const activated = tf.mul(tf.mul(gate, tf.sigmoid(gate)), layer.up.forward(h, context));
      x = tf.add(x, layer.down.forward(activated, context));
    }
    return rmsNorm(x, this.finalNorm, this.config.rmsNormEps);
  }

  /** Next-token logits [batch, length, vocab]. Call inside tf.tidy. */
  lmLogits(batch: PaddedBatch, context: ForwardContext): Tensor {
    const hidden = this.hiddenStates(batch, context);
    if (this.lmHead !== undefined) return this.lmHead.forward(hidden, context);
    // Tied head: the transposed embedding, frozen or trainable with the embedding itself.
    const head = tf.transpose(this.embedTokens) as Tensor2D;
    const flat = tf.reshape(hidden, [-1, this.config.hiddenSize]) as Tensor2D;
    return tf.reshape(tf.matMul(flat, head), [batch.batchSize, batch.length, this.config.vocabSize]);
  }

  /** Classification logits [batch, labels] from each row's last real token. Call inside tf.tidy. */
  classify(batch: PaddedBatch, context: ForwardContext): Tensor2D {
    if (this.score === undefined)
      throw new Error('classify() needs a classification head: call addClassificationHead first');
    const hidden = tf.reshape(this.hiddenStates(batch, context), [-1, this.config.hiddenSize]);
    const rows = lastTokenIndices(batch).map((t, b) => b * batch.length + t);
    const last = tf.gather(hidden, tf.tensor1d(rows, 'int32'));
    return this.score.forward(last, context) as Tensor2D;
  }

  /** Every parameter of the model (base, heads), frozen or not. */
  variables(): Variable[] {
    const norms = this.layers.flatMap((l) => [l.inputNorm, l.postAttentionNorm]);
    const heads = [...(this.lmHead?.variables() ?? []), ...(this.score?.variables() ?? [])];
    const linears = this.layers.flatMap(layerLinears).flatMap((l) => l.variables());
    return [this.embedTokens, ...norms, this.finalNorm, ...linears, ...heads];
  }

  dispose(): void {
    for (const variable of this.variables()) variable.dispose();
  }

  private attention(x: Tensor, layer: DecoderLayer, rope: RopeTables, bias: Tensor, context: ForwardContext): Tensor {
    const { numAttentionHeads: H, numKeyValueHeads: Hkv } = this.config;
    const dh = headDim(this.config);
    const groups = H / Hkv;
    const [B, T] = x.shape as [number, number, number];
    const heads = (y: Tensor, n: number): Tensor => tf.transpose(tf.reshape(y, [B, T, n, dh]), [0, 2, 1, 3]);
    // Grouped-query attention without copying keys and values: the `groups` query heads that share a KV head are
    // stacked along the query axis, [B·Hkv, groups·T, dh], so each KV head is used once per product.
    const q = tf.reshape(applyRope(heads(layer.q.forward(x, context), H), rope), [B * Hkv, groups * T, dh]);
    const k = tf.reshape(applyRope(heads(layer.k.forward(x, context), Hkv), rope), [B * Hkv, T, dh]);
    const v = tf.reshape(heads(layer.v.forward(x, context), Hkv), [B * Hkv, T, dh]) as Tensor3D;
    const scores = tf.reshape(batchMatMul(q as Tensor3D, tf.transpose(k, [0, 2, 1]) as Tensor3D), [B, H, T, T]);
    const probabilities = tf.softmax(tf.add(tf.mul(scores, 1 / Math.sqrt(dh)), bias));
    const mixed = batchMatMul(tf.reshape(probabilities, [B * Hkv, groups * T, T]) as Tensor3D, v);
    const merged = tf.reshape(tf.transpose(tf.reshape(mixed, [B, H, T, dh]), [0, 2, 1, 3]), [B, T, H * dh]);
    return layer.o.forward(merged, context);
  }

  private parameter(name: string, shape: number[], kind: 'normal' | 'ones' | 'zeros'): Variable {
    return newVariable(() => this.init(name, shape, kind), false);
  }

  private linear(name: string, inFeatures: number, outFeatures: number, withBias: boolean): Linear {
    const weight = this.parameter(`${name}.weight`, [inFeatures, outFeatures], 'normal');
    const bias = withBias ? this.parameter(`${name}.bias`, [outFeatures], 'zeros') : undefined;
    return new Linear(name, weight, bias);
  }
}

function layerLinears(layer: DecoderLayer): Linear[] {
  return [layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down];
}
