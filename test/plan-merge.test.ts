/**
 * Scale-out without a cluster: `--shard i/n` slices, the scripts `mceval plan` prints, and `mceval merge`, which
 * joins shard stores into results equal to a single-process run and refuses mismatched or incomplete sweeps. The
 * same path on a real Slurm cluster: test/slurm/slurm-sweep.sh (npm run test:slurm, run by CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inShard, parseShard } from '../src/sweep/shard.js';
import { shellQuote, slurmScript } from '../src/sweep/emit-script.js';
import { mceval, metricColumns } from './helpers.js';

const SWEEP = [
  '--task',
  'demo-sentiment',
  '--adapter',
  'lora,none',
  '--grid',
  'lr=1e-3,3e-3',
  '--grid',
  'bs=16',
  '--train-limit',
  '48',
  '--limit',
  '16',
  '--epochs',
  '1',
  '--jobs',
  '1',
];

const withoutTimes = (dir: string) => metricColumns(readFileSync(join(dir, 'results.csv'), 'utf8'));

test('--shard i/n: every plan position in exactly one shard; bad values are one line', () => {
  for (const count of [1, 2, 3, 7]) {
    for (let position = 0; position < 20; position++) {
      const owners = Array.from({ length: count }, (_, index) => index).filter((index) =>
        inShard(position, { index, count }),
      );
      assert.equal(owners.length, 1);
    }
  }
  assert.deepEqual(parseShard('2/4'), { index: 2, count: 4 });
  for (const bad of ['4/4', '1/0', 'a/b', '1', '-1/2']) assert.throws(() => parseShard(bad), /--shard must be i\/n/);
});

test('plan refuses what run would refuse from its flags alone, in one line, before queueing anything or making OUT', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-plan-refused-'));
  try {
    const cases: [string[], RegExp][] = [
      [['--task', 'demo-arith', '--samples', '3'], /^Error: --samples 3 with greedy decoding/],
      [['--task', 'demo-arith', '--max-eval-batch-size', '128'], /^Error: --max-eval-batch-size sets where/],
      [['--task', 'rte', '--train-file', 'pairs.jsonl'], /^Error: --train-file replaces the fine-tuning pairs/],
    ];
    for (const [args, expected] of cases) {
      const { code, stdout, stderr } = mceval(['plan', ...args, '--adapter', 'lora', '--shards', '2', '--out', dir]);
      assert.notEqual(code, 0, args.join(' '));
      assert.equal(stdout, '', 'a script was printed');
      assert.match(stderr, expected);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.ok(!existsSync(join(dir, 'shards')));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the Slurm script: one array task per shard, resources as asked, arguments quoted', () => {
  const script = slurmScript({
    mceval: ['/usr/bin/node', '/opt/mceval/bin/run.js'],
    runArguments: ['--task', 'rte', '--adapter', "my preset's.json"],
    out: '/scratch/sweep',
    shards: 4,
    runs: 12,
    partition: 'gpu',
    time: '02:00:00',
    mem: '16G',
    cpusPerTask: 4,
    gpusPerTask: 1,
  });
  const lines = script.split('\n');
  assert.equal(lines[0], '#!/bin/bash');
  for (const directive of [
    '--array=0-3',
    '--partition=gpu',
    '--time=02:00:00',
    '--mem=16G',
    '--cpus-per-task=4',
    '--gpus-per-task=1',
    '--output=/scratch/sweep/shards/slurm-%A_%a.out',
  ]) {
    assert.ok(lines.includes(`#SBATCH ${directive}`), directive);
  }
  assert.match(
    script,
    /\nexec \/usr\/bin\/node \/opt\/mceval\/bin\/run\.js run --task rte --adapter 'my preset'\\''s\.json' --shard "\$\{SLURM_ARRAY_TASK_ID\}\/4" --out \/scratch\/sweep\/shards\/"\$\{SLURM_ARRAY_TASK_ID\}"\n/,
  );
  assert.match(
    script,
    /# {3}\/usr\/bin\/node \/opt\/mceval\/bin\/run\.js merge \/scratch\/sweep \/scratch\/sweep\/shards\/0 .*shards\/3\n/,
  );
  assert.equal(shellQuote('a b'), "'a b'");
});

test('plan --emit shell, run, merge: the results of a single-process run; mismatched or missing shards refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-plan-'));
  try {
    const plan = mceval(['plan', ...SWEEP, '--shards', '2', '--emit', 'shell', '--out', join(dir, 'merged')]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^#!\/bin\/sh\n# mceval: 3 runs in 2 shards/);
    writeFileSync(join(dir, 'sweep.sh'), plan.stdout);
    const ran = spawnSync('sh', [join(dir, 'sweep.sh')], { encoding: 'utf8' });
    assert.equal(ran.status, 0, ran.stderr);
    assert.match(ran.stdout, /Merged 3 new runs from 2 shards; .* holds 3 of the plan's 3\./);
    assert.equal(mceval(['run', ...SWEEP, '--out', join(dir, 'single'), '--quiet']).code, 0);
    assert.deepEqual(withoutTimes(join(dir, 'merged')), withoutTimes(join(dir, 'single')));

    // Merging again adds nothing; a shard of another sweep is refused, naming both folders.
    assert.match(
      mceval(['merge', join(dir, 'merged'), join(dir, 'merged', 'shards', '0')]).stdout,
      /Merged 0 new runs/,
    );
    const other = join(dir, 'other');
    assert.equal(
      mceval(['run', ...SWEEP.slice(0, 5), 'lr=2e-3', ...SWEEP.slice(6), '--shard', '0/2', '--out', other, '--quiet'])
        .code,
      0,
    );
    const mismatch = mceval(['merge', join(dir, 'mixed'), join(dir, 'merged', 'shards', '0'), other]);
    assert.notEqual(mismatch.code, 0);
    assert.match(
      mismatch.stderr,
      /^Error: .*other holds runs of a different sweep than .*shards\/0 \(plan [0-9a-f]{12} vs [0-9a-f]{12}\)/,
    );
    // One shard of two: refused unless --partial.
    const alone = mceval(['merge', join(dir, 'half'), join(dir, 'merged', 'shards', '1')]);
    assert.match(alone.stderr, /^Error: Not the whole sweep: shard 0\/2 not given\. .*--partial\.\n$/);
    // A refused merge leaves no --out it made (nor a store in it).
    for (const refused of ['mixed', 'half']) assert.ok(!existsSync(join(dir, refused)), `${refused} left behind`);
    const partial = mceval(['merge', join(dir, 'half'), join(dir, 'merged', 'shards', '1'), '--partial']);
    assert.equal(partial.code, 0, partial.stderr);
    assert.match(partial.stdout, /holds 1 of the plan's 3/);
    assert.match(mceval(['merge', join(dir, 'x'), dir]).stderr, /has no run store \(mceval\.sqlite\)/);
    assert.ok(!existsSync(join(dir, 'x')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
