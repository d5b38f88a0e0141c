/** A RoBERTa-style classifier with random weights (a fixed seed) and a 2-way head, for the encoder benchmarks. */
import { Rng } from '../src/engine/rng.js';
import { EncoderModel } from '../src/models/encoder/model.js';
import { randomWeightInit } from '../src/models/init.js';

export interface RandomEncoderShape {
  readonly layers: number;
  readonly hidden: number;
  /** Heads of hidden / heads each; the feed-forward is 4 × hidden wide. */
  readonly heads: number;
  readonly vocabSize: number;
  /** The longest input (RoBERTa's positions start after padding_idx). */
  readonly maxLength: number;
  /** attention_probs_dropout_prob; transformers' 0.1 when absent. */
  readonly attentionDropout?: number;
}

export function randomEncoder(shape: RandomEncoderShape): EncoderModel {
  const { layers, hidden, heads, vocabSize, maxLength, attentionDropout = 0.1 } = shape;
  const init = randomWeightInit(new Rng(5), 0.02);
  const model = new EncoderModel(
    {
      modelType: 'roberta',
      vocabSize,
      hiddenSize: hidden,
      intermediateSize: 4 * hidden,
      numHiddenLayers: layers,
      numAttentionHeads: heads,
      maxPositionEmbeddings: maxLength + 2,
      typeVocabSize: 1,
      layerNormEps: 1e-5,
      padTokenId: 1,
      initializerRange: 0.02,
      hiddenDropout: 0.1,
      attentionDropout,
      classifierDropout: 0.1,
    },
    init,
  );
  model.addClassificationHead(2, init);
  return model;
}

/** roberta-base's shape at `layers` layers and `hidden` width (heads of 64), its vocabulary of 50,265. */
export const robertaShaped = (layers: number, hidden: number) =>
  randomEncoder({ layers, hidden, heads: hidden / 64, vocabSize: 50265, maxLength: 512 });
