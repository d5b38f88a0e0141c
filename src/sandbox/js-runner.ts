/**
 * Runs inside the sandbox's child Node process: executes one JavaScript program (MultiPL-E's HumanEval-JS layout:
 * prompt + completion + tests) in a vm2 NodeVM that may require only `assert` and `util`. This is the second layer,
 * never the only one: the process around it already runs with the sandbox's limits, namespaces and read-only view.
 * The last stderr line of a failure is `Name: message`, which the verdict reports.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

interface NodeVmConstructor {
  new (options: Record<string, unknown>): { run(code: string, filename: string): unknown };
}

const require = createRequire(import.meta.url);
const { NodeVM } = require('vm2') as { NodeVM: NodeVmConstructor };

function report(error: unknown): never {
  const failure = error instanceof Error ? error : new Error(String(error));
  process.stderr.write(`${failure.stack ?? ''}\n${failure.name}: ${failure.message.split('\n')[0]}\n`);
  process.exit(1);
}

process.on('uncaughtException', report);
process.on('unhandledRejection', report);

const file = process.argv[2]!;
const vm = new NodeVM({
  console: 'inherit',
  eval: false,
  wasm: false,
  wrapper: 'none',
  require: { builtin: ['assert', 'util'], external: false },
});
try {
  vm.run(readFileSync(file, 'utf8'), file);
} catch (error) {
  report(error);
}
