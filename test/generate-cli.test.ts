import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packagePath } from '../src/paths.js';
import { sharedPath } from './shared-fixtures.js';
import { mceval } from './helpers.js';

test('generate --json on a builtin model prints ids, text and per-token log-probs', () => {
  const { code, stdout, stderr } = mceval([
    'generate',
    '--model',
    'builtin:tiny',
    '--prompt',
    'hi',
    '--max-new-tokens',
    '3',
    '--json',
  ]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '', 'with --json only the JSON result is printed');
  const result = JSON.parse(stdout);
  assert.deepEqual(result.promptIds, [1, 107, 108]);
  assert.equal(result.ids.length, 3);
  assert.equal(result.logprobs.length, 3);
  assert.ok(result.logprobs.every((value: number) => value <= 0));
  assert.equal(result.stopReason, 'max-new-tokens');
});

const stories = sharedPath('models', 'stories260K', 'hf');

test('generate on stories260K prints the golden greedy story; sampling is seeded', { skip: stories.skip }, () => {
  const greedy = mceval([
    'generate',
    '--model',
    stories.path,
    '--prompt',
    'Once upon a time',
    '--max-new-tokens',
    '40',
  ]);
  assert.equal(greedy.code, 0, greedy.stderr);
  assert.equal(
    greedy.stdout.trim(),
    'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.',
  );
  const sample = (seed: string) =>
    JSON.parse(
      mceval([
        'generate',
        '--model',
        stories.path,
        '--prompt',
        'Once',
        '--temperature',
        '1',
        '--top-p',
        '0.9',
        '--seed',
        seed,
        '--max-new-tokens',
        '20',
        '--json',
      ]).stdout,
    ).ids;
  assert.deepEqual(sample('1'), sample('1'));
  assert.notDeepEqual(sample('1'), sample('2'));
});

test('generate rejects bad values with one line', () => {
  const { code, stderr } = mceval(['generate', '--model', 'builtin:tiny', '--prompt', 'x', '--top-p', '1.5']);
  assert.equal(code, 2);
  assert.equal(stderr, 'Error: --top-p must be a number from 0 to 1, not "1.5".\n');
  const folder = mceval(['generate', '--model', packagePath('fixtures'), '--prompt', 'x']);
  assert.match(
    folder.stderr,
    /^Error: .*fixtures has no config\.json: a Hugging Face model folder needs config\.json next to its weights\.\n$/,
  );
});
