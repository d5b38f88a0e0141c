/**
 * Next-token cross-entropy from hidden states [rows, hidden] through a plain LM head, the head run over chunks of rows:
 * at most `chunkRows` rows of logits [chunk, vocab] exist at once. With a 128k vocabulary, 512 target tokens' logits
 * take 256 MB, and the unchunked step holds the logits, their softmax and the one-hot targets at once — most of a
 * step's memory, past wasm's 4 GiB at a few thousand targets. What crosses from the forward to the backward pass is
 * [rows, hidden]: a frozen head's input gradient per unit of upstream gradient, formed while each chunk's logits exist,
 * or, for a trainable head, the hidden states, whose chunks' logits the backward pass recomputes.
 */
import type { GradSaveFunc } from '@tensorflow/tfjs-core';
import { UserError } from '../../errors.js';
import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../tf.js';
import { crossEntropyGradient, crossEntropyValue } from './cross-entropy.js';
import { tapeRecording } from './tape-recording.js';
import {
  plainProduct,
  productTransposedLeft,
  transposedRightOperand,
  tidyGradient,
  type CustomGradientFunc,
} from './product.js';

/** An LM head that is one weight (no adapter, no bias). */
export interface HeadWeight {
  /** [vocab, hidden] when `vocabFirst` (a tied embedding), else [hidden, vocab] (a Linear, stored [in, out]). */
  readonly weight: Tensor2D;
  readonly vocabFirst: boolean;
  /** Differentiate with respect to the weight too (full fine-tuning). */
  readonly trainable: boolean;
}

/** Float32 elements of logits per chunk unless MCEVAL_HEAD_CHUNK_ELEMENTS says otherwise: 64 MiB. */
const DEFAULT_CHUNK_ELEMENTS = 2 ** 24;

/** Logits per chunk: MCEVAL_HEAD_CHUNK_ELEMENTS, else 2^24. Read as the engine starts: a bad value stops a run first. */
export function headChunkElements(): number {
  const setting = process.env['MCEVAL_HEAD_CHUNK_ELEMENTS'];
  const elements = setting === undefined || setting === '' ? DEFAULT_CHUNK_ELEMENTS : Number(setting);
  if (!Number.isFinite(elements) || elements < 1)
    throw new UserError(
      `MCEVAL_HEAD_CHUNK_ELEMENTS=${setting} is not a number of logits per chunk: give one of 1 or more ` +
        `(the default is ${DEFAULT_CHUNK_ELEMENTS}), or unset it.`,
    );
  return elements;
}

/** Rows of logits per chunk for a vocabulary: at least one. */
export function headChunkRows(vocabSize: number): number {
  return Math.max(1, Math.floor(headChunkElements() / vocabSize));
}

/**
 * Logits [rows, vocab] of hidden-state rows, by a product that can be repeated over chunks without re-transposing the
 * weight. Not differentiable in the weight.
 */
export function logitsProduct(weight: Tensor2D, vocabFirst: boolean): (hidden: Tensor2D) => Tensor2D {
  return vocabFirst ? transposedRightOperand(weight) : (hidden) => plainProduct(hidden, weight);
}

/** The hidden rows' gradient dLogits · W′ᵀ, likewise. */
function hiddenGradientProduct(weight: Tensor2D, vocabFirst: boolean): (dLogits: Tensor2D) => Tensor2D {
  return vocabFirst ? (dLogits) => plainProduct(dLogits, weight) : transposedRightOperand(weight);
}

/** [start, size] of each chunk of `rows` rows, `chunkRows` at most. */
export function rowChunks(rows: number, chunkRows: number): [number, number][] {
  const chunks: [number, number][] = [];
  for (let start = 0; start < rows; start += chunkRows) chunks.push([start, Math.min(chunkRows, rows - start)]);
  return chunks;
}

/** The rows' cross-entropies [rows] against `labels` (next tokens), differentiable in the hidden states (and weight). */
export function chunkedHeadCrossEntropy(
  hidden: Tensor2D,
  head: HeadWeight,
  labels: readonly number[],
  chunkRows: number,
): Tensor1D {
  const rows = hidden.shape[0];
  if (labels.length !== rows) throw new Error(`chunkedHeadCrossEntropy: ${labels.length} labels for ${rows} rows`);
  const { vocabFirst, trainable } = head;
  const chunks = rowChunks(rows, chunkRows);
  const rowsOf = (h: Tensor2D, [start, size]: [number, number]) => tf.slice(h, [start, 0], [size, -1]);
  const labelsOf = ([start, size]: [number, number]) => labels.slice(start, start + size);

  const value = (h: Tensor2D, w: Tensor2D) =>
    tf.tidy(() => {
      const logits = logitsProduct(w, vocabFirst);
      return tf.concat(
        chunks.map((chunk) => tf.tidy(() => crossEntropyValue(logits(rowsOf(h, chunk)), labelsOf(chunk)))),
      );
    }) as Tensor1D;

  // Evaluation: the rows' losses, nothing for a backward pass.
  if (!tapeRecording()) return value(hidden, head.weight);

  if (!trainable) {
    // A frozen head: dh = dy ⊙ (softmax − onehot)·W′ᵀ row by row, so the forward pass forms each chunk's
    // (softmax − onehot)·W′ᵀ [chunk, hidden] while its logits exist and the backward only scales the rows by dy — no
    // second head product, and only [rows, hidden] kept between the passes.
    const w = head.weight;
    const op = tf.customGrad(((h: Tensor2D, save: GradSaveFunc) => {
      const [losses, unitGradient] = tf.tidy(() => {
        const logits = logitsProduct(w, vocabFirst);
        const hiddenGradient = hiddenGradientProduct(w, vocabFirst);
        const parts = chunks.map((chunk) =>
          tf.tidy(() => {
            const z = logits(rowsOf(h, chunk));
            return [crossEntropyValue(z, labelsOf(chunk)), hiddenGradient(crossEntropyGradient(z, labelsOf(chunk)))];
          }),
        );
        return [tf.concat(parts.map((part) => part[0]!)), tf.concat(parts.map((part) => part[1]!))];
      });
      save([unitGradient!]);
      return {
        value: losses!,
        gradFunc: tidyGradient((dy: Tensor1D, saved: Tensor[]) => tf.mul(saved[0]!, tf.expandDims(dy, 1))),
      };
    }) as unknown as CustomGradientFunc) as (h: Tensor2D) => Tensor1D;
    return op(hidden);
  }

  // A trainable head (full fine-tuning): dW = Σ dy·hᵀ(softmax − onehot) needs dy, so the backward pass recomputes
  // each chunk's logits (one more head product) rather than keeping [rows, vocab] of them.
  const gradients = (dy: Tensor1D, h: Tensor2D, w: Tensor2D): Tensor[] => {
    const logits = logitsProduct(w, vocabFirst);
    const hiddenGradient = hiddenGradientProduct(w, vocabFirst);
    // W's gradient is summed as [hidden, vocab] (hᵀ · dLogits transposes the small operand) and a tied embedding's
    // transposed once at the end, instead of transposing every chunk's dLogits.
    let dWeight: Tensor2D | undefined;
    const dHidden = chunks.map((chunk) => {
      // One chunk's logits, their gradient and its products exist at a time; only dHidden's rows and dW stay.
      const [dRows, dWeightChunk] = tf.tidy(() => {
        const chunkHidden = rowsOf(h, chunk);
        const dyChunk = tf.slice(dy, chunk[0], chunk[1]);
        const dLogits = crossEntropyGradient(logits(chunkHidden), labelsOf(chunk), dyChunk);
        return [hiddenGradient(dLogits), productTransposedLeft(chunkHidden, dLogits)];
      });
      const previous = dWeight;
      dWeight = previous === undefined ? dWeightChunk! : (tf.add(previous, dWeightChunk!) as Tensor2D);
      if (previous !== undefined) tf.dispose([previous, dWeightChunk!]);
      return dRows!;
    });
    const dh = tf.concat(dHidden);
    tf.dispose(dHidden);
    return [dh, vocabFirst ? tf.transpose(dWeight!) : dWeight!];
  };
  const op = tf.customGrad(((h: Tensor2D, w: Tensor2D, save: GradSaveFunc) => {
    save([h, w]);
    return {
      value: value(h, w),
      gradFunc: tidyGradient((dy: Tensor1D, saved: Tensor[]) =>
        gradients(dy, saved[0] as Tensor2D, saved[1] as Tensor2D),
      ),
    };
  }) as unknown as CustomGradientFunc) as (h: Tensor2D, w: Tensor2D) => Tensor1D;
  return op(hidden, head.weight);
}
