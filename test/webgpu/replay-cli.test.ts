/**
 * `mceval run --backend webgpu` as users run it (a real process) with MCEVAL_WEBGPU_REPLAY=on: a LoRA run on SST-2
 * files whose sentences all have one length (one shape a step) replays most of its steps, says how many in
 * results.csv's `replayed_steps`, and writes the row the same run writes with every step recorded — the same scores,
 * losses and settings, its wall clock, key, folder and GPU memory's peak aside.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/engine/rng.js';
import { columnsBut, mceval, metricColumns } from '../helpers.js';

/** SST-2's GLUE files: 40 training and 16 dev sentences of four of the same eight words, labels alternating. */
function writeSst2(dir: string): void {
  const rng = new Rng(11);
  const words = ['good', 'cool', 'warm', 'cold', 'fine', 'poor', 'nice', 'dull'];
  const sentence = () => Array.from({ length: 4 }, () => words[Math.floor(rng.uniform() * words.length)]).join(' ');
  const rows = (n: number) => Array.from({ length: n }, (_, i) => `${sentence()}\t${i % 2}`);
  mkdirSync(join(dir, 'sst2'), { recursive: true });
  writeFileSync(join(dir, 'sst2', 'train.tsv'), ['sentence\tlabel', ...rows(40)].join('\n') + '\n');
  writeFileSync(join(dir, 'sst2', 'dev.tsv'), ['sentence\tlabel', ...rows(16)].join('\n') + '\n');
}

test('mceval run on webgpu replays its steps where asked and writes the row it writes recording them', () => {
  const root = mkdtempSync(join(tmpdir(), 'mceval-replay-cli-'));
  try {
    writeSst2(join(root, 'data'));
    const run = (setting: 'on' | 'off') => {
      const out = join(root, setting);
      const result = mceval(
        [
          'run',
          ...['--task', 'sst2', '--adapter', 'lora', '--model', 'builtin:tiny', '--data', join(root, 'data')],
          ...['--backend', 'webgpu', '--grid', 'lr=1e-3', '--grid', 'bs=2', '--epochs', '1', '--out', out],
        ],
        { MCEVAL_WEBGPU_REPLAY: setting },
      );
      assert.equal(result.code, 0, `${setting} failed:\n${result.stderr}`);
      return readFileSync(join(out, 'results.csv'), 'utf8');
    };
    const [on, off] = [run('on'), run('off')];
    const [header, row] = metricColumns(on);
    const replayed = Number(row![header!.indexOf('replayed_steps')]);
    // 20 steps: the first unheld, six captured, the rest replayed once the pool has settled.
    assert.ok(replayed >= 6 && replayed <= 13, `replayed ${replayed} of 20`);
    assert.equal(metricColumns(off)[0]!.indexOf('replayed_steps'), -1);
    const varying = ['run_key', 'run_dir', 'peak_gpu_bytes', 'replayed_steps'];
    assert.deepEqual(columnsBut(on, varying), columnsBut(off, varying));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
