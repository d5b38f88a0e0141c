/** The "did you mean" of refusals: edit distance, the names a mistyped one most likely meant, and the CLI's lines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alternatives, didYouMean, editDistance, nearestNames } from '../src/nearest-name.js';
import { mceval } from './helpers.js';

test('editDistance: insertions, deletions, substitutions and swaps of neighbours (optimal string alignment)', () => {
  // Textbook values: kitten → sitting is 3 (two substitutions, one insertion); a swap is one edit; "ca" → "abc" is 3
  // under optimal string alignment (no substring is edited twice), where unrestricted Damerau–Levenshtein gives 2.
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('lroa', 'lora'), 1);
  assert.equal(editDistance('ca', 'abc'), 3);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('rte', 'rte'), 0);
});

const TASKS = ['rte', 'mrpc', 'qnli', 'mnli-matched', 'mnli-mismatched', 'arc-easy', 'arc-challenge', 'hellaswag'];

test('nearestNames: the names a prefix begins, else the nearest within a third of the length; none for others', () => {
  assert.deepEqual(nearestNames('rtee', TASKS), ['rte']);
  assert.deepEqual(nearestNames('HellaSwg', TASKS), ['hellaswag']);
  // A prefix names its tasks, not the name one substitution away (qnli).
  assert.deepEqual(nearestNames('mnli', TASKS), ['mnli-matched', 'mnli-mismatched']);
  assert.deepEqual(nearestNames('arc', TASKS), ['arc-easy', 'arc-challenge']);
  // Too far (2 edits in 4 letters) and nothing alike: no suggestion.
  assert.deepEqual(nearestNames('mxyc', ['mrpc']), []);
  assert.deepEqual(nearestNames('xyz', TASKS), []);
  assert.deepEqual(nearestNames('rte', TASKS), ['rte']);
  // The same name in capitals is the name meant, not the ones it begins.
  assert.deepEqual(nearestNames('RTE', TASKS), ['rte']);
  assert.deepEqual(nearestNames('MNLI-Matched', TASKS), ['mnli-matched']);
  // Ties are all named, in the given order.
  assert.deepEqual(nearestNames('dorb', ['dora', 'dorc', 'lora']), ['dora', 'dorc']);
});

test('didYouMean and alternatives: the phrase a refusal carries', () => {
  assert.equal(didYouMean('lroa', ['dora', 'lora']), ' (did you mean lora?)');
  assert.equal(
    didYouMean('smal', ['tiny', 'small'], (name) => `builtin:${name}`),
    ' (did you mean builtin:small?)',
  );
  assert.equal(didYouMean('nope', ['lora']), '');
  assert.equal(alternatives(['a']), 'a');
  assert.equal(alternatives(['a', 'b', 'c']), 'a, b or c');
});

test('mceval run: a mistyped task, adapter, builtin model or flag is refused with the name it most likely meant', () => {
  const cases: [string[], RegExp][] = [
    [
      ['--task', 'mnli', '--adapter', 'lora'],
      /^Error: Unknown task "mnli" \(did you mean mnli-matched or mnli-mismatched\?\): use one of /,
    ],
    [['--task', 'rte', '--adapter', 'lroa'], /^Error: Unknown adapter "lroa" \(did you mean lora\?\): use one of /],
    [
      ['--task', 'rte', '--adapter', 'lora', '--model', 'builtin:smal'],
      /^Error: Unknown builtin model "builtin:smal" \(did you mean builtin:small\?\)/,
    ],
    // The prefix every builtin name shares does not make unlike names near.
    [
      ['--task', 'rte', '--adapter', 'lora', '--model', 'builtin:huge'],
      /^Error: Unknown builtin model "builtin:huge": use one of/,
    ],
    [
      ['--task', 'rte', '--adapter', 'lora', '--adpter', 'dora'],
      /^Error: Nonexistent flag: --adpter: use --adapter\n$/,
    ],
  ];
  for (const [args, expected] of cases) {
    const { code, stderr } = mceval(['run', ...args, '--out', '/nonexistent/never-made']);
    assert.equal(code, 2, args.join(' '));
    assert.match(stderr, expected);
  }
});
