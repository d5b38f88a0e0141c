/**
 * bench/wasm-threads: whether tfjs-backend-wasm's multi-threaded build (XNNPACK over emscripten pthreads) runs in
 * Node here, and what it gives. tfjs disables threads in Node (tensorflow/tfjs#3830): its pthread workers are blob
 * URLs. This benchmark loads the threaded build anyway — each blob is written to a file, the worker is pointed at the
 * main script's file, and the bundle's module aliases are defined for it — then reports the thread count XNNPACK
 * actually got, the 1024² matmul rate and the step time of a LoRA training step (builtin:small, 128 tokens), as JSON.
 * Compare with `--threads 1`. mceval itself trains one grid point per core on the single-threaded build.
 *
 * Usage: node dist/bench/wasm-threads.js [--threads 2]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argument, middleTime, timedRuns } from './options.js';

const threads = Number(argument('threads', '2'));

const dir = mkdtempSync(join(tmpdir(), 'tfjs-threads-'));
const mainScript = join(dir, 'main.js');
// Names the bundled factory's source refers to but only the bundle's own scope defines.
const ALIASES =
  "var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks'),require$$4=require('os')," +
  'commonjsGlobal=globalThis;';
const sources = new WeakMap<Blob, string>();
const RealBlob = globalThis.Blob;
globalThis.Blob = class extends RealBlob {
  constructor(parts: string[], options?: ConstructorParameters<typeof Blob>[1]) {
    super(parts, options);
    const text = parts.join('');
    if (text.startsWith('var WasmBackendModuleThreadedSimd')) writeFileSync(mainScript, ALIASES + text);
    sources.set(this, text);
  }
} as typeof Blob;
const createObjectURL = URL.createObjectURL.bind(URL);
URL.createObjectURL = (blob: Blob) => {
  const text = sources.get(blob);
  if (text === undefined) return createObjectURL(blob);
  const file = join(dir, `worker-${Math.random().toString(36).slice(2)}.js`);
  const pointAtFile = `;{const load=self.onmessage;self.onmessage=e=>{if(e.data.cmd==="load")e.data.urlOrBlob=${JSON.stringify(mainScript)};return load(e)};}`;
  writeFileSync(file, text + pointAtFile);
  return file;
};

const { tf } = await import('../src/engine/tf.js');
const wasm = await import('@tensorflow/tfjs-backend-wasm');
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 1);
wasm.setThreadsCount(threads);
const { initEngine } = await import('../src/engine/backends.js');
await initEngine('wasm');
const { matmulSelfCheck } = await import('../src/engine/selfcheck.js');
const { loadPreset } = await import('../src/peft/preset.js');
const { benchTrainingStep } = await import('./training-step.js');
const matmulGflops = (await matmulSelfCheck(1024, 5)).gflops;
const preset = loadPreset('lora');
const bench = benchTrainingStep('builtin:small', preset.method, preset.adapterConfig, { length: 128 });
const times = timedRuns(() => bench.step(), 5);
bench.dispose();
const msPerStep = middleTime(times);
console.log(
  JSON.stringify(
    { threadsRequested: threads, threadsActual: wasm.getThreadsCount(), matmulGflops, msPerStep },
    null,
    2,
  ),
);
// The pthread pool's workers keep the event loop alive.
process.exit(0);
