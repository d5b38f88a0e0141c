// tfjs-core's CommonJS entry (the one Node loads) registers no gradients and no chained ops; its ESM sources do,
// but they use extensionless imports that Node cannot load. We bundle those two registration modules once at
// build time. The bundle shares tfjs's global engine, kernel and gradient registries with the CommonJS copy.
import { build } from 'esbuild';
import { writeFileSync } from 'node:fs';

const entry = [
  "import '@tensorflow/tfjs-core/dist/register_all_gradients.js';",
  "import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';",
].join('\n');

await build({
  stdin: { contents: entry, resolveDir: process.cwd(), sourcefile: 'tfjs-registrations.js' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  minify: true,
  legalComments: 'none',
  outfile: 'dist/vendor/tfjs-registrations.js',
  logLevel: 'warning',
});
writeFileSync('dist/vendor/package.json', '{"type":"module"}\n');
