/**
 * Runs inside the sandbox's child Node process: executes one JavaScript program (MultiPL-E's HumanEval-JS layout:
 * prompt + completion + tests) in a vm2 NodeVM that may require only `assert` and `util`. This is the second layer,
 * never the only one: the process around it already runs with the sandbox's limits, namespaces and read-only view.
 * It passes only when the event loop drained with no uncaught error: then — and on a failure, with `Name: message` —
 * it writes the completion marker with the token the harness sent on stdin. A program that exits any other way
 * (process.exit, a signal, a crash) leaves no marker and fails.
 */
import { createRequire } from 'node:module';
import { readFileSync, writeSync } from 'node:fs';
import { markerLine } from './completion-marker.js';

interface NodeVmConstructor {
  new (options: Record<string, unknown>): { run(code: string, filename: string): unknown };
}

const require = createRequire(import.meta.url);
const { NodeVM } = require('vm2') as { NodeVM: NodeVmConstructor };

const token = readFileSync(0, 'utf8').split('\n')[0]!;

function finish(result: string, exception = ''): never {
  writeSync(1, markerLine(token, result, exception));
  process.exit(0);
}

function report(error: unknown): never {
  const failure = error instanceof Error ? error : new Error(String(error));
  const line = `${failure.name}: ${failure.message.split('\n')[0]}`;
  process.stderr.write(`${failure.stack ?? ''}\n${line}\n`);
  finish(`failed: ${line}`, failure.name);
}

process.on('uncaughtException', report);
process.on('unhandledRejection', report);
process.once('beforeExit', () => finish('passed'));

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
