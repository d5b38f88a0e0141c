/**
 * `mceval run --backend webgpu --grad-accum auto --eval-batch-size auto` as users run it (a real process), on a
 * Hugging Face folder whose one decoder layer has an MLP wide enough that 64 sequences of the task make a tensor over
 * the binding limit of the adapter (lavapipe's: 128 MiB) and 32 do not: the run is refused in one micro-batch and at
 * evaluation batches of 128 (--max-eval-batch-size) and 64, trains again from its start in 2 micro-batches and
 * evaluates at 32, says so on its line, and writes the row that `--grad-accum 2 --eval-batch-size 32` writes.
 * refusal-retry.test.ts holds the helpers to the same on each kind of evaluation and on MonteCLoRA; this one holds
 * run-sweep's wiring of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backends.js';
import { webGpuAdapterReport } from '../../src/engine/webgpu.js';
import { Rng } from '../../src/engine/rng.js';
import { BUILTIN_MODELS } from '../../src/models/builtin.js';
import { LlamaModel } from '../../src/models/llama/model.js';
import { randomWeightInit } from '../../src/models/init.js';
import { saveLlamaFolder } from '../../src/models/hf/save-folder.js';
import { columnsBut, mceval, metricColumns } from '../helpers.js';

/** The first row's value of a results.csv column. */
function column(csv: string, name: string): string {
  const [header, row] = metricColumns(csv);
  return row![header!.indexOf(name)]!;
}

/** Tokens per example: 98 letters, each a word piece of its own, between [CLS] and [SEP]. */
const TOKENS = 100;
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
/** A BERT vocab.txt (the folder loader's tokenizer where there is no tokenizer.json): specials, then letters. */
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...LETTERS, ...[...LETTERS].map((c) => `##${c}`)];

/** A one-layer decoder folder whose [64 · TOKENS, width] MLP tensor is 1.3 × `limit` bytes, rounded up to 64 columns. */
function writeWideModel(dir: string, limit: number): void {
  const width = 64 * Math.ceil((1.3 * limit) / (64 * TOKENS * 4) / 64);
  const config = {
    ...BUILTIN_MODELS['tiny']!.config,
    vocabSize: VOCAB.length,
    numHiddenLayers: 1,
    intermediateSize: width,
    maxPositionEmbeddings: 2 * TOKENS,
  };
  const model = new LlamaModel(config, randomWeightInit(new Rng(3), 0.05));
  try {
    saveLlamaFolder(model, dir);
  } finally {
    model.dispose();
  }
  writeFileSync(join(dir, 'vocab.txt'), `${VOCAB.join('\n')}\n`);
}

/** SST-2's GLUE files: 64 training and 64 dev sentences of 98 one-letter words, labels alternating. */
function writeSst2(dir: string): void {
  const rng = new Rng(11);
  const sentence = () => Array.from({ length: TOKENS - 2 }, () => LETTERS[Math.floor(rng.uniform() * 26)]).join(' ');
  const rows = (n: number) => Array.from({ length: n }, (_, i) => `${sentence()}\t${i % 2}`);
  mkdirSync(join(dir, 'sst2'), { recursive: true });
  for (const split of ['train', 'dev']) {
    writeFileSync(join(dir, 'sst2', `${split}.tsv`), ['sentence\tlabel', ...rows(64)].join('\n') + '\n');
  }
}

test('mceval run on webgpu: auto trains in the micro-batches and evaluates at the batch the device accepts, as they given', async (t) => {
  await initEngine('webgpu');
  const limit = webGpuAdapterReport()!.limits['maxStorageBufferBindingSize']!;
  if (limit > 2 ** 29) {
    t.skip(`this adapter binds ${limit} bytes at once: the test would work on sequences of thousands of tokens`);
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'mceval-refusal-cli-'));
  try {
    writeWideModel(join(root, 'model'), limit);
    writeSst2(join(root, 'data'));
    const run = (out: string, settings: readonly string[]) => {
      const result = mceval([
        'run',
        ...['--task', 'sst2', '--adapter', 'lora', '--model', join(root, 'model'), '--data', join(root, 'data')],
        ...['--backend', 'webgpu', '--grid', 'lr=1e-3', '--grid', 'bs=64', '--epochs', '1', '--jobs', '1'],
        ...['--out', join(root, out), ...settings],
      ]);
      assert.equal(result.code, 0, `${out} failed:\n${result.stderr}`);
      return { stderr: result.stderr, csv: readFileSync(join(root, out, 'results.csv'), 'utf8') };
    };
    // Evaluation from 128 (--max-eval-batch-size): refused at 128 and 64.
    const auto = run('auto', ['--grad-accum', 'auto', '--eval-batch-size', 'auto', '--max-eval-batch-size', '128']);
    assert.match(auto.stderr, /auto: grad-accum 2, eval batch 32/);
    const given = run('given', ['--grad-accum', '2', '--eval-batch-size', '32']);
    assert.doesNotMatch(given.stderr, /auto:/);
    // One row each (the refused attempts left none), equal but for the wall clock, the run's key (auto's own) and the
    // GPU memory's peak: the same settings, scores and tensors.
    const varying = ['run_key', 'run_dir', 'peak_gpu_bytes'];
    const [autoRows, givenRows] = [auto.csv, given.csv].map((csv) => columnsBut(csv, varying));
    assert.equal(autoRows!.length, 2);
    assert.deepEqual(autoRows, givenRows);
    // The refused attempts' freed buffers were given back before the retry: its peak is no more than the given run's
    // (which starts with what loading the model freed still pooled; before, auto's was 2.9 times it).
    const [autoPeak, givenPeak] = [auto.csv, given.csv].map((csv) => Number(column(csv, 'peak_gpu_bytes')));
    assert.ok(autoPeak! > 0 && autoPeak! <= givenPeak!, `auto's peak ${autoPeak} B, the given run's ${givenPeak} B`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
