/** Empty data is never a result: 0-byte, header-only and fully filtered splits stop the run before training. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../src/paths.js';
import { loadTask } from '../src/runners/index.js';
import { demoSentiment } from '../src/tasks/demo/sentiment.js';
import type { ClassificationTask } from '../src/tasks/types.js';

const HEADER = 'index\tsentence1\tsentence2\tlabel\n';
const ROW = '0\tA cat sleeps.\tAn animal sleeps.\tentailment\n';

function runRte(files: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), 'mceval-empty-'));
  try {
    mkdirSync(join(root, 'data', 'rte'), { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(root, 'data', 'rte', name), text);
    const out = join(root, 'out');
    const args = ['run', '--task', 'rte', '--adapter', 'lora', '--data', join(root, 'data'), '--out', out];
    const result = spawnSync(process.execPath, [packagePath('bin', 'run.js'), ...args], { encoding: 'utf8' });
    return { code: result.status, stderr: result.stderr, outFiles: existsSync(out) ? readdirSync(out) : [] };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('a header-only dev.tsv is one line naming the file, exit 2, nothing written', () => {
  const { code, stderr, outFiles } = runRte({ 'train.tsv': HEADER + ROW, 'dev.tsv': HEADER });
  assert.equal(code, 2);
  assert.match(
    stderr,
    /^Error: \S+\/rte\/dev\.tsv has a header but no rows: the file is cut short\. Download it again\.\n$/,
  );
  assert.deepEqual(outFiles, []);
});

test('a 0-byte dev.tsv and a header-only train.tsv are named too', () => {
  assert.match(runRte({ 'train.tsv': HEADER + ROW, 'dev.tsv': '' }).stderr, /^Error: \S+\/rte\/dev\.tsv is empty/);
  assert.match(
    runRte({ 'train.tsv': HEADER, 'dev.tsv': HEADER + ROW }).stderr,
    /^Error: \S+\/rte\/train\.tsv has a header/,
  );
});

test('a split whose every row was filtered out stops the task, naming its files', async () => {
  const filtered: ClassificationTask = {
    ...demoSentiment,
    load: () => ({ train: demoSentiment.load(undefined).train, dev: [] }),
  };
  await assert.rejects(
    loadTask(filtered, undefined),
    /^UserError: Task demo-sentiment: the evaluation split has no examples/,
  );
});
