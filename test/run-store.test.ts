/**
 * The run store under `mceval run --out`: a sweep killed with SIGKILL at several moments (before any run, in the
 * middle of runs, right after one finished) and rerun ends with the same numbers as an uninterrupted one, with no run
 * lost or duplicated; --out reuse rules; the `none` baseline; saved adapters that load back and score the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { packagePath } from '../src/paths.js';
import { RunStore } from '../src/store/run-store.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { loadLoraAdapter } from '../src/peft/lora/peft-format.js';
import { SafetensorsFile } from '../src/models/safetensors.js';
import { getTask } from '../src/tasks/registry.js';
import { limitTask, loadTask, RUNNERS } from '../src/runners/index.js';
import { tf } from '../src/engine/tf.js';
import { mceval, metricColumns, useTestBackend } from './helpers.js';

const BIN = packagePath('bin', 'run.js');
const SWEEP = [
  'run',
  '--task',
  'demo-sentiment',
  '--adapter',
  'lora',
  '--grid',
  'lr=1e-3,2e-3,3e-3',
  '--grid',
  'bs=8,16',
  '--train-limit',
  '96',
  '--limit',
  '32',
  '--epochs',
  '1',
  '--jobs',
  '2',
];

const tempDir = () => mkdtempSync(join(tmpdir(), 'mceval-store-'));

function finishedRuns(dir: string): number {
  if (!existsSync(join(dir, 'mceval.sqlite'))) return 0;
  const store = RunStore.open(dir);
  try {
    return store.finishedKeys().size;
  } finally {
    store.close();
  }
}

const metricRows = (dir: string) => metricColumns(readFileSync(join(dir, 'results.csv'), 'utf8'));

/** Starts the sweep and kills it with SIGKILL after `delayMs`, or as soon as `afterLine` shows on stderr. */
function killed(out: string, when: { delayMs?: number; afterLine?: RegExp }): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...SWEEP, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    const kill = () => child.kill('SIGKILL');
    if (when.delayMs !== undefined) setTimeout(kill, when.delayMs);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (when.afterLine?.test(stderr)) kill();
    });
    child.on('exit', () => resolve());
  });
}

test('SIGKILL at several moments, then a rerun: the results of an uninterrupted sweep, no run lost or duplicated', async () => {
  const reference = tempDir();
  const interrupted = tempDir();
  try {
    assert.equal(mceval([...SWEEP, '--out', reference, '--quiet']).code, 0);
    // Seeded moments: at start-up, right after a run was committed, and at two moments inside runs.
    const rng = new Rng(2026);
    const moments = [
      { delayMs: 150 },
      { afterLine: /^run \d+\/\d+ /m },
      { delayMs: 1500 + Math.floor(rng.uniform() * 1500) },
      { delayMs: 1000 + Math.floor(rng.uniform() * 2000) },
    ];
    const committed: number[] = [];
    for (const moment of moments) {
      await killed(interrupted, moment);
      committed.push(finishedRuns(interrupted));
    }
    const resumed = mceval([...SWEEP, '--out', interrupted, '--json']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const report = JSON.parse(resumed.stdout);
    assert.equal(report.skipped, committed.at(-1), `committed after each kill: ${committed}`);
    assert.ok(
      committed.every((count, i) => i === 0 || count >= committed[i - 1]!),
      'a committed run was lost',
    );
    assert.deepEqual(metricRows(interrupted), metricRows(reference));
    // Exactly one row and one folder per run; nothing partial left.
    const db = new Database(join(interrupted, 'mceval.sqlite'), { readonly: true });
    try {
      assert.equal((db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n, 6);
    } finally {
      db.close();
    }
    const folders = readdirSync(join(interrupted, 'runs'));
    assert.equal(folders.length, 6, folders.join(', '));
    assert.ok(folders.every((name) => !name.startsWith('.partial-')));
  } finally {
    rmSync(reference, { recursive: true, force: true });
    rmSync(interrupted, { recursive: true, force: true });
  }
});

test('--out reuse: the same sweep resumes, a different one is refused unless --resume or --overwrite', () => {
  const out = tempDir();
  const small = [...SWEEP.slice(0, 6), 'lr=1e-3', '--grid', 'bs=16', ...SWEEP.slice(9, 15), '--out', out];
  try {
    assert.equal(mceval([...small, '--quiet']).code, 0);
    const again = mceval([...small, '--json']);
    assert.equal(JSON.parse(again.stdout).skipped, 1, 'the same command trains nothing again');
    const other = [...small.map((arg) => (arg === 'lr=1e-3' ? 'lr=2e-3' : arg))];
    const refused = mceval(other);
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /^Error: --out .* holds a different sweep \(1 finished run, started by: mceval run .*\): rerun that command to resume it, pass --resume .*--overwrite .*\n$/,
    );
    const added = JSON.parse(mceval([...other, '--resume', '--json']).stdout);
    assert.equal(added.runs.length, 1);
    assert.equal(readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n').length, 3, 'both sweeps listed');
    const replaced = JSON.parse(mceval([...other, '--overwrite', '--json']).stdout);
    assert.equal(replaced.skipped, 0);
    assert.equal(readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n').length, 2);
    // An older mceval's results without a store are not silently replaced.
    const old = tempDir();
    writeFileSync(join(old, 'results.csv'), 'task\n');
    const legacy = mceval([...small.slice(0, -1), old]);
    assert.match(legacy.stderr, /holds results\.csv without a run store .*--overwrite/);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('--adapter none: one untrained run per task, beside the trained ones, whatever the grid', () => {
  const out = tempDir();
  try {
    const result = mceval([
      ...SWEEP.slice(0, 4),
      'lora,none',
      '--grid',
      'lr=1e-3,2e-3',
      '--grid',
      'bs=16',
      ...SWEEP.slice(9, 15),
      '--out',
      out,
      '--json',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    const baseline = report.runs.filter((run: { adapter: string }) => run.adapter === 'none');
    assert.equal(baseline.length, 1);
    assert.equal(baseline[0].steps, 0);
    assert.equal(baseline[0].epochs, 0);
    assert.deepEqual(
      report.summary.map((row: { adapter: string; runs: number }) => [row.adapter, row.runs]),
      [
        ['lora', 2],
        ['none', 1],
      ],
    );
    assert.ok(
      !existsSync(
        join(
          out,
          'runs',
          readdirSync(join(out, 'runs')).find((d) => d.includes('-none-'))!,
          'adapter',
        ),
      ),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("saved adapters: PEFT's files and tensor names, loadable by loadLoraAdapter, scoring what the run scored", async () => {
  const out = tempDir();
  try {
    const args = [...SWEEP.slice(0, 6), 'lr=3e-3', '--grid', 'bs=8', ...SWEEP.slice(9, 13), '--epochs', '1'];
    assert.equal(mceval([...args, '--out', out, '--quiet']).code, 0);
    const [folder] = readdirSync(join(out, 'runs'));
    const adapterDir = join(out, 'runs', folder!, 'adapter');
    assert.deepEqual(readdirSync(adapterDir).sort(), [
      'adapter_config.json',
      'adapter_model.safetensors',
      'task_head.safetensors',
    ]);
    const file = SafetensorsFile.open(join(adapterDir, 'adapter_model.safetensors'));
    const names = [...file.tensors.keys()];
    file.close();
    assert.ok(names.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'), names[0]);
    // LoRA's matrices, and the head as PEFT's sequence classifier saves its modules_to_save.
    assert.ok(
      names.every(
        (name) =>
          /^base_model\.model\.model\.layers\.\d+\.(self_attn|mlp)\.\w+\.lora_[AB]\.weight$/.test(name) ||
          name === 'base_model.model.score.weight',
      ),
    );
    assert.ok(names.includes('base_model.model.score.weight'));
    const adapterConfig = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8'));
    assert.equal(adapterConfig.task_type, 'SEQ_CLS');
    assert.deepEqual(adapterConfig.modules_to_save, ['score']);
    const metrics = JSON.parse(readFileSync(join(out, 'runs', folder!, 'metrics.json'), 'utf8'));

    // Rebuild the run's model from the files alone and evaluate it: the same accuracy and NLL.
    await useTestBackend();
    const task = getTask('demo-sentiment');
    const loaded = limitTask(await loadTask(task, undefined), { evalLimit: 32, trainLimit: 96 });
    if (loaded.kind !== 'classification') throw new Error('demo-sentiment is a classification task');
    const scoreFromFiles = async () => {
      const { model, tokenizer } = loadModel('builtin:tiny');
      const head = model.addClassificationHead(2, (_name, shape) => tf.zeros(shape));
      const headFile = SafetensorsFile.open(join(adapterDir, 'task_head.safetensors'));
      const stored = headFile.read('score.weight');
      headFile.close();
      tf.tidy(() =>
        head.variables()[0]!.assign(tf.transpose(tf.tensor2d(stored.values, stored.shape as [number, number]))),
      );
      const { adapter } = loadLoraAdapter(model, adapterDir);
      try {
        return RUNNERS.classification.metrics(
          await RUNNERS.classification.evaluate(model, tokenizer, loaded.task, loaded.data, {}),
        );
      } finally {
        adapter.dispose();
        model.dispose();
      }
    };
    const first = await scoreFromFiles();
    assert.equal(first.accuracy, metrics.accuracy);
    assert.ok(Math.abs(first.nll - metrics.nll) < 1e-6, `${first.nll} vs ${metrics.nll}`);
    // A second rebuild leaves no tensor behind (the first also filled the engine's one-time caches).
    const before = tf.memory().numTensors;
    await scoreFromFiles();
    assert.equal(tf.memory().numTensors, before);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
