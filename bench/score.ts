/**
 * bench/score: loglikelihood scoring (`scoreTokenSpans`, what every multiple-choice task runs) of seeded random
 * sequences with a 2-layer Llama of hidden 256 and a large vocabulary: milliseconds for all of them, the tensor bytes
 * alive at once while a batch is scored, and the sum of their token log-probabilities and their count of greedy
 * continuations (to compare with another build's). Every sequence has `--length` tokens, or, with `--shortest`, a
 * seeded length from that to `--length` (as a multiple-choice task's contexts differ). Prints one JSON document.
 *
 * Usage: node dist/bench/score.js [--backend wasm] [--vocab 32000] [--sequences 64] [--length 96] [--shortest 96]
 *          [--scored 32]
 */
import { tf } from '../src/engine/tf.js';
import { initEngine, type BackendRequest } from '../src/engine/backends.js';
import { Rng } from '../src/engine/rng.js';
import { scoreTokenSpans } from '../src/generation/score.js';
import { largeVocabularyModel } from './large-vocabulary-model.js';
import { argument } from './options.js';

await initEngine(argument('backend', 'wasm') as BackendRequest);
const vocabSize = Number(argument('vocab', '32000'));
const longest = Number(argument('length', '96'));
const shortest = Number(argument('shortest', String(longest)));
const scored = Number(argument('scored', '32'));
const model = largeVocabularyModel(vocabSize);
const rng = new Rng(1);
const sequences = Array.from({ length: Number(argument('sequences', '64')) }, () => {
  // No draw when every length is the same: the sequences are then those of builds before --shortest.
  const length = shortest === longest ? longest : shortest + rng.integer(longest - shortest + 1);
  return { ids: Array.from({ length }, () => 3 + rng.integer(vocabSize - 3)), from: Math.max(1, length - scored) };
});
await scoreTokenSpans(model, sequences.slice(0, 16)); // warm-up
const started = performance.now();
const results = await scoreTokenSpans(model, sequences);
const ms = performance.now() - started;
// Tensor bytes alive at once while one batch of 16 is scored.
const { peakBytes } = await tf.profile(() => scoreTokenSpans(model, sequences.slice(0, 16)));
model.dispose();
console.log(
  JSON.stringify({
    backend: tf.getBackend(),
    vocabSize,
    sequences: sequences.length,
    scoredTokens: sequences.reduce((sum, sequence) => sum + sequence.ids.length - sequence.from, 0),
    ms,
    batchTensorPeakBytes: peakBytes,
    logprobSum: results.reduce((sum, row) => sum + row.tokenLogprobs.reduce((a, b) => a + b, 0), 0),
    greedy: results.filter((row) => row.isGreedy).length,
  }),
);
