/**
 * bench/train-step: speed and memory of one adapter training step (forward, backward, AdamW) on a classification batch
 * of bs × length real tokens, for each model × length, next to the backend's plain 1024² matmul rate and numpy's
 * (same machine, same run; numpy also runs the step's own matrix products, shape for shape). Prints one JSON document.
 *
 * Each model × length runs in its own child process, so its memory figures are its own: `peakBytes` is the backend's
 * high-water mark — the wasm heap's size after the steps (it grows to the most the step needed and never shrinks; this
 * is what runs out at 4 GiB) or, on other backends, the process's peak resident memory (`rssPeakBytes`, also given).
 * `tensorPeakBytes` is tfjs's count of tensor bytes alive at once during a step (tf.profile; it counts a buffer shared
 * by several tensors once per tensor).
 *
 * Each result's `matmulGflops` (and `fractionOfMatmul`, achieved over it) is measured in that result's own process
 * right after its steps, since this machine's speed drifts from run to run; the top-level one at the end.
 * `kernels` says which build of the WebAssembly kernels ran (relaxed SIMD or plain).
 *
 * FLOPs are counted from the model (`stepFlops`): the useful matrix products of the step, causal attention counting
 * only the (query, key ≤ query) pairs; elementwise work is not counted. `achievedGflops` = counted FLOPs / step time.
 *
 * Usage: bench/train-step [--backend wasm] [--models builtin:tiny,builtin:small,stories260K] [--lengths 128,384]
 *          [--batch 16] [--adapter lora] [--seconds 8] [--profile]
 * `stories260K` stands for ../shared/models/stories260K/hf and is skipped when absent. `--profile` adds the step's
 * ten costliest kernels (tfjs kernel timings of one step) to each result.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tf } from '../src/engine/tf.js';
import { initEngine, type BackendRequest } from '../src/engine/backends.js';
import { matmulSelfCheck } from '../src/engine/selfcheck.js';
import { kernelBuild } from '../src/engine/kernels/wasm-kernels.js';
import { loadPreset } from '../src/peft/preset.js';
import type { LlamaConfig } from '../src/models/llama/config.js';
import { benchTrainingStep } from './training-step.js';
import { stepFlops } from './step-flops.js';
import { argument, middleTime } from './options.js';

const SHARED_STORIES = fileURLToPath(new URL('../../../shared/models/stories260K/hf', import.meta.url));

const displayName = (spec: string) => (spec === SHARED_STORIES ? 'stories260K' : spec);

interface Product {
  m: number;
  k: number;
  n: number;
  count: number;
}

/** The matrix products one step ran, from tf.profile's kernel list (batched ones count once per batch entry). */
function productsOf(kernels: { name: string; inputShapes: number[][] }[]): Product[] {
  const counts = new Map<string, Product>();
  for (const kernel of kernels) {
    if (kernel.name !== 'BatchMatMul' && kernel.name !== '_FusedMatMul' && kernel.name !== 'MatMul') continue;
    const [a, b] = kernel.inputShapes as [number[], number[]];
    const batch = a.slice(0, -2).reduce((x, y) => x * y, 1);
    const [m, k] = a.slice(-2) as [number, number];
    // A transpose flag shows as inner dimensions that do not meet; numpy then gets the equivalent plain shapes.
    const n = b.at(-2) === k ? b.at(-1)! : b.at(-2)!;
    const key = `${m}x${k}x${n}`;
    const entry = counts.get(key) ?? { m, k, n, count: 0 };
    entry.count += batch;
    counts.set(key, entry);
  }
  return [...counts.values()];
}

function topKernels(kernels: { name: string; kernelTimeMs: unknown }[]) {
  const totals = new Map<string, { ms: number; calls: number }>();
  for (const kernel of kernels) {
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    const entry = totals.get(kernel.name) ?? { ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls += 1;
    totals.set(kernel.name, entry);
  }
  return [...totals.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 10)
    .map(([name, { ms, calls }]) => ({ kernel: name, ms: Math.round(ms * 10) / 10, calls }));
}

const rssPeakBytes = () => process.resourceUsage().maxRSS * 1024;

/** The wasm backend's heap size: its high-water mark, since the heap never shrinks. */
function wasmHeapBytes(): number | undefined {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } };
  return backend.wasm?.HEAPU8.byteLength;
}

/** Child process: one model × length. */
async function measureOne(backend: BackendRequest, modelSpec: string, length: number) {
  await initEngine(backend);
  const batchSize = Number(argument('batch', '16'));
  const preset = loadPreset(argument('adapter', 'lora'));
  const bench = benchTrainingStep(modelSpec, preset.method, preset.adapterConfig, { batchSize, length });
  bench.step();
  const profile = await tf.profile(() => bench.step());
  const kernels = profile.kernels.map((k) => ({
    name: k.name,
    inputShapes: k.inputShapes,
    kernelTimeMs: k.kernelTimeMs,
  }));
  const tensorPeakBytes = profile.peakBytes;
  const budgetMs = Number(argument('seconds', '8')) * 1000;
  const times: number[] = [];
  const started = performance.now();
  while (times.length < 3 || (performance.now() - started < budgetMs && times.length < 50)) {
    const t0 = performance.now();
    bench.step();
    times.push(performance.now() - t0);
  }
  const msPerStep = middleTime(times);
  // The plain matmul rate in the same process, right after the steps: this machine's speed drifts between runs.
  const matmulGflops = (await matmulSelfCheck(1024, 5)).gflops;
  const config: LlamaConfig = bench.model.config;
  const rank = (preset.adapterConfig as { r?: number }).r ?? 0;
  const flops = stepFlops(config, batchSize, length, rank);
  bench.dispose();
  return {
    model: displayName(modelSpec),
    adapter: argument('adapter', 'lora'),
    backend,
    batch: batchSize,
    length,
    tokens: batchSize * length,
    steps: times.length,
    msPerStep,
    tokensPerSecond: (batchSize * length) / (msPerStep / 1000),
    countedGflopPerStep: flops / 1e9,
    achievedGflops: flops / (msPerStep / 1000) / 1e9,
    matmulGflops,
    fractionOfMatmul: flops / (msPerStep / 1000) / 1e9 / matmulGflops,
    peakBytes: wasmHeapBytes() ?? rssPeakBytes(),
    rssPeakBytes: rssPeakBytes(),
    tensorPeakBytes,
    kernelsPerStep: kernels.length,
    products: productsOf(kernels),
    ...(process.argv.includes('--profile') ? { profile: topKernels(kernels) } : {}),
  };
}

function numpyRates(products: Product[]): { plainGflops: number; stepProductsGflops: number | null } | undefined {
  const script = fileURLToPath(new URL('../../bench/numpy_matmul.py', import.meta.url));
  try {
    const input = JSON.stringify({ plain: 1024, products: products.map((p) => [p.m, p.k, p.n, p.count]) });
    return JSON.parse(
      execFileSync('python3', [script], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] }),
    );
  } catch {
    return undefined; // no python3 or no numpy: the field is left out
  }
}

const backend = argument('backend', 'wasm') as BackendRequest;
const one = argument('one', '');
if (one !== '') {
  const [model, length] = one.split('@') as [string, string];
  console.log(JSON.stringify(await measureOne(backend, model, Number(length))));
} else {
  const models = argument('models', 'builtin:tiny,builtin:small,stories260K')
    .split(',')
    .map((m) => (m === 'stories260K' ? SHARED_STORIES : m))
    .filter((m) => m.startsWith('builtin:') || existsSync(m));
  const lengths = argument('lengths', '128,384').split(',').map(Number);
  const passThrough = process.argv.slice(2).filter((a, i, all) => a !== '--one' && all[i - 1] !== '--one');
  const results = [];
  const failures: { model: string; length: number; error: string }[] = [];
  for (const model of models) {
    for (const length of lengths) {
      const child = spawnSync(
        process.execPath,
        [fileURLToPath(import.meta.url), ...passThrough, '--one', `${model}@${length}`],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 },
      );
      if (child.status !== 0) {
        // A configuration that cannot run (the wasm heap exhausted, say) is a result too: its error line is kept.
        const error = child.stderr.split('\n').find((line) => /Error/.test(line)) ?? `exit ${child.status}`;
        failures.push({ model: displayName(model), length, error: error.trim() });
        continue;
      }
      const result = JSON.parse(child.stdout.trim().split('\n').at(-1)!);
      const numpy = numpyRates(result.products);
      results.push({ ...result, numpyStepProductsGflops: numpy?.stepProductsGflops ?? undefined });
    }
  }
  await initEngine(backend);
  const matmulGflops = (await matmulSelfCheck(1024, 5)).gflops;
  const numpy = numpyRates([]);
  console.log(
    JSON.stringify(
      {
        node: process.version,
        backend,
        kernels: kernelBuild(),
        matmulGflops,
        numpyMatmulGflops: numpy?.plainGflops,
        results: results.map(({ products, ...rest }) => ({
          ...rest,
          numpyMatmulGflops: numpy?.plainGflops,
          productShapes: products.length,
        })),
        failures,
      },
      null,
      2,
    ),
  );
}
