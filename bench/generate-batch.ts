/**
 * bench/generate-batch: sampled generations whose rows stop at different steps, as a code or math task's do: one
 * batch, or `--batch` rows at a time, the waiting prompts joining the batch under way (continuous batching) or once it
 * has emptied (batches one after another), as `--join` says (default: MCEVAL_GENERATION_JOIN's, under way). Prompts
 * are seeded random tokens; `--eos N` token ids end a row (about N / vocabulary of the draws), so rows run from a few
 * tokens to the whole `--tokens`; each row draws from its own stream, so the tokens do not depend on the batching.
 * Prints JSON: the first prompt pass's and the rest's milliseconds, the most tensor bytes the first prompt pass held at
 * once above the weights', the steps, the batch rows the steps ran (rows that stop leave the batch once half of it has
 * stopped) against the rows × steps of one batch that kept them, each row's length, and a hash of the tokens (equal
 * from one version to another when only the speed changed).
 *
 * Usage: bench/generate-batch [--model builtin:small] [--rows 16] [--prompt 120] [--tokens 128] [--eos 8]
 *        [--temperature 0.8] [--seed 2] [--batch ROWS] [--join under-way|emptied] [--backend wasm|cpu|webgpu]
 */
import { createHash } from 'node:crypto';
import { initEngine, type BackendRequest } from '../src/engine/backends.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { generate } from '../src/generation/generate.js';
import { tf } from '../src/engine/tf.js';
import { watchPeakTensorBytes } from '../src/engine/peak-bytes.js';
import { argument } from './options.js';
import { generationJoin, type GenerationJoin } from '../src/engine/generation-join.js';

const modelName = argument('model', 'builtin:small');
const rows = Number(argument('rows', '16'));
const promptLength = Number(argument('prompt', '120'));
const tokens = Number(argument('tokens', '128'));
const eosCount = Number(argument('eos', '8'));
const temperature = Number(argument('temperature', '0.8'));
const seed = Number(argument('seed', '2'));
const backend = argument('backend', 'wasm') as BackendRequest;
const batchSize = Number(argument('batch', String(rows)));
const joinArgument = argument('join', '');
if (!['', 'under-way', 'emptied'].includes(joinArgument)) throw new Error('--join is under-way or emptied');
await initEngine(backend);
const { model, tokenizer } = loadModel(modelName);
const vocab = model.config.vocabSize;
const rng = new Rng(seed);
// Prompt tokens from the upper half of the vocabulary, EOS ids from the lower: no prompt holds an EOS.
const prompts = Array.from({ length: rows }, () =>
  Array.from({ length: promptLength }, () => Math.floor(vocab / 2) + rng.integer(vocab - Math.floor(vocab / 2))),
);
const eosTokenIds = Array.from({ length: eosCount }, (_, i) => 1 + i);

const decode = model.decode.bind(model);
let rowsRun = 0;
model.decode = ((input, ...rest) => {
  rowsRun += input.batchSize;
  return decode(input, ...rest);
}) as typeof model.decode;
const weightBytes = tf.memory().numBytes;
const promptPeak = watchPeakTensorBytes();
const started = performance.now();
let promptMs = 0;
let steps = 0;
const join = joinArgument === '' ? generationJoin() : (joinArgument as GenerationJoin);
const generated = await generate(model, tokenizer, prompts, {
  maxNewTokens: tokens,
  eosTokenIds,
  sampling: { temperature, topK: 0, topP: 1 },
  seed,
  batchSize,
  join,
  onStep: (step) => {
    steps = step;
    if (step === 1) {
      promptMs = performance.now() - started;
      promptPeak.stop();
    }
  },
});
const totalMs = performance.now() - started;
console.log(
  JSON.stringify(
    {
      model: modelName,
      backend,
      rows,
      batchSize,
      join,
      promptLength,
      maxNewTokens: tokens,
      promptMs: Math.round(promptMs),
      decodeMs: Math.round(totalMs - promptMs),
      promptTensorPeakBytes: promptPeak.peak - weightBytes,
      steps,
      decodingRowsRun: rowsRun - rows,
      ...(batchSize >= rows ? { decodingRowsOfAFullBatch: (steps - 1) * rows } : {}),
      // One line, where an array would take a line per row.
      lengths: generated.map((row) => row.ids.length).join(' '),
      tokensHash: createHash('sha256')
        .update(JSON.stringify(generated.map((row) => row.ids)))
        .digest('hex')
        .slice(0, 16),
    },
    null,
    2,
  ),
);
model.dispose();
