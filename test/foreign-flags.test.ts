/** Flags users bring from lm-eval, human-eval and the Trainer: each refused in one line that says what to use. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { counterpartOf, nonexistentFlagLines } from '../src/cli/foreign-flags.js';
import { mceval } from './helpers.js';

const RUN_FLAGS = new Set(['task', 'adapter', 'backend', 'eval-batch-size', 'log-samples', 'grid', 'out', 'model']);

test("a foreign flag's counterpart, where the command has it; mceval's own flag with underscores or capitals", () => {
  assert.equal(counterpartOf('--tasks', RUN_FLAGS), '--task (comma-separated or repeated)');
  assert.match(counterpartOf('--device=cuda:0', RUN_FLAGS)!, /^--backend webgpu for a GPU/);
  assert.equal(counterpartOf('--log_samples', RUN_FLAGS), '--log-samples');
  assert.equal(counterpartOf('--Log-Samples', RUN_FLAGS), '--log-samples');
  assert.match(counterpartOf('--learning_rate', RUN_FLAGS)!, /^--grid lr=/);
  // Nothing to say: a flag of no tool, or a counterpart the command lacks (score has no --backend).
  assert.equal(counterpartOf('--bogus', RUN_FLAGS), undefined);
  assert.equal(counterpartOf('--device', new Set(['task', 'predictions'])), undefined);
  assert.equal(counterpartOf('--n_workers', RUN_FLAGS), undefined);
  assert.equal(counterpartOf('--n_workers', new Set(['workers', 'problems'])), '--workers');
  // The first counterpart the command has: run's --out, report's --output.
  assert.equal(counterpartOf('--output_path', RUN_FLAGS), '--out (the run store)');
  assert.equal(counterpartOf('--output_path', new Set(['format', 'output'])), '--output');
});

test('one line per nonexistent flag once any has a counterpart; else none (oclif line stands)', () => {
  assert.deepEqual(nonexistentFlagLines(['--device=cuda:0', '--bogus'], RUN_FLAGS), [
    'Nonexistent flag: --device: use --backend webgpu for a GPU (Dawn over Vulkan; mceval doctor shows the adapter it finds)',
    'Nonexistent flag: --bogus',
  ]);
  assert.equal(nonexistentFlagLines(['--bogus', '--other'], RUN_FLAGS), undefined);
});

test("mceval run with lm-eval's flags: exit 2, a line per flag with what to use, no --out made", () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mceval-foreign-')), 'runs');
  const { code, stderr } = mceval([
    'run',
    '--task',
    'demo-sentiment',
    '--adapter',
    'lora',
    '--out',
    out,
    '--device',
    'cuda:0',
    '--batch_size',
    '8',
  ]);
  assert.equal(code, 2);
  assert.equal(
    stderr,
    'Error: Nonexistent flag: --device: use --backend webgpu for a GPU (Dawn over Vulkan; mceval doctor shows the adapter it finds)\n' +
      'Error: Nonexistent flag: --batch_size: use --eval-batch-size for evaluation (N or auto), --grid bs=16,32 for training\n',
  );
  assert.equal(existsSync(out), false);
  const backend = mceval(['run', '--task', 'demo-sentiment', '--adapter', 'lora', '--out', out, '--backend', 'cuda']);
  assert.equal(backend.code, 2);
  assert.match(
    backend.stderr,
    /^Error: Expected --backend=cuda to be one of: .*\. A GPU is used through --backend webgpu/,
  );
  const human = mceval(['evaluate-functional-correctness', 'samples.jsonl', '--problem_file', 'HumanEval.jsonl']);
  assert.equal(human.stderr, 'Error: Nonexistent flag: --problem_file: use --problems\n');
});
