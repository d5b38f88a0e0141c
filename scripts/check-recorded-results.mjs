// Runs `mceval run --task demo-sentiment --adapter lora --seed 7` (all six grid points, about 2 minutes on 2 cores)
// and compares every point with the numbers recorded before the issue-11 layout. Exits 1 on any difference.
// Usage (after npm run build): node scripts/check-recorded-results.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECORDED_DEMO_SENTIMENT_SEED7 } from '../dist/test/recorded-results.js';

const out = mkdtempSync(join(tmpdir(), 'mceval-recorded-'));
try {
  const run = spawnSync(
    process.execPath,
    ['bin/run.js', 'run', '--task', 'demo-sentiment', '--adapter', 'lora', '--seed', '7', '--out', out, '--json'],
    // The plain-SIMD kernels, as test/recorded-results.test.ts: the same numbers on every machine.
    { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, MCEVAL_RELAXED_SIMD: '0' } },
  );
  if (run.status !== 0) {
    process.stderr.write(run.stderr);
    process.exit(1);
  }
  const runs = JSON.parse(run.stdout).runs.map((r) => ({
    lr: r.lr,
    bs: r.batch_size,
    steps: r.steps,
    finalTrainLoss: r.final_train_loss,
    accuracy: r.accuracy,
    nll: r.nll,
  }));
  const same = JSON.stringify(runs) === JSON.stringify(RECORDED_DEMO_SENTIMENT_SEED7);
  console.log(JSON.stringify({ same, runs, recorded: RECORDED_DEMO_SENTIMENT_SEED7 }, null, 2));
  process.exit(same ? 0 : 1);
} finally {
  rmSync(out, { recursive: true, force: true });
}
