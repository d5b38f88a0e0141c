/**
 * A stack of layers run over a stream (a decoder's or an encoder's residual stream). An evaluation pass off the tape
 * keeps nothing for a backward pass, so each layer runs in a tf.tidy scope of its own, which frees its intermediates —
 * projections, attention scores, the MLP's [tokens, intermediate] tensors — as the next layer begins, and the stream a
 * layer before made is freed once the next has used it. One scope for the pass held every layer's until its end: a
 * prompt pass's or a scoring batch's peak memory, many times the KV cache's on a deep model. A training pass keeps the
 * caller's scope even off the tape: its draws outlive it (MonteCLoRA's samples, which its regulariser reads after the
 * pass).
 */
import { tf, type Tensor } from '../engine/tf.js';
import { tapeRecording } from '../engine/ops/tape-recording.js';
import type { ForwardContext } from './forward-context.js';

/** Whether a pass in `context` runs each layer in a scope of its own (an evaluation pass off the tape). */
export const scopesEachLayer = (context: ForwardContext): boolean => !context.training && !tapeRecording();

/** What a layer gives: the next stream, and tensors it keeps for the caller (a decoder's keys and values). */
export interface LayerRun {
  output: Tensor;
  kept?: Tensor[];
}

/** The stream after every layer, and what each layer kept, in order; `run` forms one layer's output from the stream. */
export function runLayers<L>(
  layers: readonly L[],
  input: Tensor,
  context: ForwardContext,
  run: (layer: L, index: number, stream: Tensor) => LayerRun,
): { output: Tensor; kept: Tensor[][] } {
  const scoped = scopesEachLayer(context);
  let stream = input;
  const kept: Tensor[][] = [];
  layers.forEach((layer, i) => {
    const { output, kept: layerKept } = scoped ? tf.tidy(() => ({ ...run(layer, i, stream) })) : run(layer, i, stream);
    // The stream a layer before made (a scope's output) is this pass's alone, and used up.
    if (scoped && i > 0 && output !== stream) stream.dispose();
    kept.push(layerKept ?? []);
    stream = output;
  });
  return { output: stream, kept };
}
