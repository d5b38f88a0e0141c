// Runs the compiled test files with Node's test runner (Node 20 takes no globs, so the files are listed here).
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const files = readdirSync('dist/test')
  .filter((file) => file.endsWith('.test.js'))
  .map((file) => `dist/test/${file}`);
// A tuning file of this machine's (mceval tune) would change which kernels the tests count: none unless asked for.
const env = { ...process.env, MCEVAL_WEBGPU_TUNING: process.env.MCEVAL_WEBGPU_TUNING || 'off' };
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
