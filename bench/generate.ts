/**
 * bench/generate: greedy generation speed on the real stories260K checkpoint (../shared/models/stories260K/hf), with
 * and without the KV cache. Prints JSON: overall tokens/s and the per-token cost (ms) in windows of the sequence, so
 * the two curves show that the cache keeps the cost of a token flat as the sequence grows, while recomputing the
 * whole sequence makes it grow.
 *
 * Usage: bench/generate [--tokens N] [--backend wasm|cpu] [--model DIR]
 */
import { existsSync } from 'node:fs';
import { initEngine, type BackendRequest } from '../src/engine/backends.js';
import { loadLlamaFolder } from '../src/models/hf/load-folder.js';
import { HfTokenizer } from '../src/models/tokenizers/hf-tokenizer.js';
import { generate } from '../src/generation/generate.js';
import { packagePath } from '../src/paths.js';
import { argument } from './options.js';

const dir = argument('model', packagePath('..', 'shared', 'models', 'stories260K', 'hf'));
if (!existsSync(dir)) {
  console.log(JSON.stringify({ skipped: `model folder ${dir} is absent` }));
  process.exit(0);
}
const tokens = Number(argument('tokens', '256'));
const backend = argument('backend', 'wasm') as BackendRequest;
await initEngine(backend);
const model = loadLlamaFolder(dir);
const tokenizer = HfTokenizer.fromFolder(dir);
const window = Math.max(1, Math.floor(tokens / 8));

async function measure(useCache: boolean) {
  const times: number[] = [];
  await generate(model, tokenizer, [[tokenizer.bosId]], { maxNewTokens: 4, useCache, eosTokenIds: [] }); // warm-up
  const started = performance.now();
  let last = started;
  await generate(model, tokenizer, [[tokenizer.bosId]], {
    maxNewTokens: tokens,
    useCache,
    eosTokenIds: [],
    onStep: () => {
      const now = performance.now();
      times.push(now - last);
      last = now;
    },
  });
  const seconds = (performance.now() - started) / 1000;
  const curve = [];
  for (let start = 0; start < times.length; start += window) {
    const slice = times.slice(start, start + window);
    curve.push({
      fromToken: start + 1,
      toToken: start + slice.length,
      msPerToken: slice.reduce((a, b) => a + b, 0) / slice.length,
    });
  }
  return { useCache, tokens: times.length, tokensPerSecond: times.length / seconds, curve };
}

const cached = await measure(true);
const uncached = await measure(false);
const flatness = (run: typeof cached) => run.curve.at(-1)!.msPerToken / run.curve[0]!.msPerToken;
console.log(
  JSON.stringify(
    {
      model: dir,
      backend,
      node: process.version,
      withCache: cached,
      withoutCache: uncached,
      lastOverFirstWindowCost: { withCache: flatness(cached), withoutCache: flatness(uncached) },
    },
    null,
    2,
  ),
);
model.dispose();
