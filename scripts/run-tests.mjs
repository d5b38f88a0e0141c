// Runs the compiled test files with Node's test runner (Node 20 takes no globs, so the files are listed here).
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const files = readdirSync('dist/test')
  .filter((file) => file.endsWith('.test.js'))
  .map((file) => `dist/test/${file}`);
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
