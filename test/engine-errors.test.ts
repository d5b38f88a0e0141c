/** wasm traps from an exhausted heap become one actionable line; other errors pass through unchanged. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainEngineError } from '../src/engine/engine-errors.js';
import { UserError } from '../src/errors.js';

/** What tfjs-wasm throws: a WebAssembly.RuntimeError (the global is absent from this project's TypeScript libs). */
const wasmTrap = (message: string) => Object.assign(new Error(message), { name: 'RuntimeError' });

test('wasm heap traps are explained; other backends and other errors are left alone', () => {
  for (const message of ['memory access out of bounds', 'Aborted(). Build with -sASSERTIONS for more info.']) {
    const explained = explainEngineError(wasmTrap(message), 'wasm');
    assert.ok(explained instanceof UserError);
    assert.match(
      explained.message,
      /^The wasm backend trapped \(.*\), which almost always means its memory .*--grid bs=/,
    );
  }
  const trap = wasmTrap('memory access out of bounds');
  assert.equal(explainEngineError(trap, 'cpu'), trap);
  const other = new Error('shapes do not match');
  assert.equal(explainEngineError(other, 'wasm'), other);
  const user = new UserError('x');
  assert.equal(explainEngineError(user, 'wasm'), user);
});
