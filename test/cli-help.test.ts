/** Help on every command (-h, --help, `mceval help`), and parse errors that keep every problem and the flag's name. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorLines } from '../src/cli/error-lines.js';
import { mceval } from './helpers.js';

const COMMANDS = [
  'run',
  'score',
  'generate',
  'tasks',
  'adapters',
  'doctor',
  'evaluate-functional-correctness',
  'data verify',
  'data pull',
];

test('-h, --help and `mceval help COMMAND` print the usage of every command', () => {
  for (const command of COMMANDS) {
    const words = command.split(' ');
    for (const args of [
      [...words, '-h'],
      [...words, '--help'],
      ['help', ...words],
    ]) {
      const { code, stdout, stderr } = mceval(args);
      assert.equal(code, 0, `${args.join(' ')}: ${stderr}`);
      assert.match(stdout, new RegExp(`USAGE\\n\\s+\\$ mceval ${command}`), args.join(' '));
    }
  }
  const root = mceval(['help']);
  assert.equal(root.code, 0);
  assert.match(root.stdout, /COMMANDS/);
});

test('parse errors: every problem on its own line, naming the flag, exit 2', () => {
  const missing = mceval(['run', '--adapter', 'lora']);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, 'Error: Missing required flag --task\n');
  const range = mceval(['run', '--task', 'demo-sentiment', '--adapter', 'lora', '--epochs', '-1']);
  assert.equal(range.code, 2);
  assert.equal(range.stderr, 'Error: --epochs: Expected an integer greater than or equal to 1 but received: -1\n');
  const both = mceval(['run']);
  assert.equal(both.stderr, 'Error: Missing required flag --adapter\nError: Missing required flag --task\n');
});

test('errorLines keeps what oclif says and drops its header and footer', () => {
  assert.deepEqual(
    errorLines(
      'The following errors occurred:\n  Missing required flag task\n  Missing required flag adapter\nSee more help with --help',
    ),
    ['Missing required flag --task', 'Missing required flag --adapter'],
  );
  assert.deepEqual(
    errorLines('Parsing --top-p \n\t--top-p must be a number from 0 to 1, not "2".\nSee more help with --help'),
    ['--top-p must be a number from 0 to 1, not "2".'],
  );
  assert.deepEqual(errorLines('Parsing --epochs\n\tExpected an integer greater than or equal to 1 but received: 0'), [
    '--epochs: Expected an integer greater than or equal to 1 but received: 0',
  ]);
  assert.deepEqual(errorLines('Nonexistent flag: --bogus\nSee more help with --help'), ['Nonexistent flag: --bogus']);
});

test('mceval adapters prints each preset with its default grid', () => {
  const { code, stdout } = mceval(['adapters']);
  assert.equal(code, 0);
  assert.match(stdout, /^lora +LoRA.*\n +grid: lr 0\.001, 0\.003, 0\.01 × bs 16, 32$/m);
});
