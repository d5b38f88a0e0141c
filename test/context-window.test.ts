/** Left truncation of over-long inputs, as lm-eval's HF model does it (generate_until and loglikelihood). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitPromptToWindow, fitScoredToWindow } from '../src/generation/context-window.js';

test('generation keeps the last window − max_new_tokens prompt tokens', () => {
  const ids = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(fitPromptToWindow(ids, 8, 3), [5, 6, 7, 8, 9]);
  assert.deepEqual(fitPromptToWindow(ids, 32, 3), ids);
  assert.deepEqual(fitPromptToWindow(ids, 4, 8), [9]); // never empty
});

test('scoring keeps the last window + 1 tokens and moves the continuation start with them', () => {
  const ids = Array.from({ length: 10 }, (_, i) => i);
  // lm-eval: (context + continuation)[-(max_length + 1):] — here max_length 6 keeps tokens 3..9.
  assert.deepEqual(fitScoredToWindow(ids, 7, 6), { ids: [3, 4, 5, 6, 7, 8, 9], from: 4 });
  assert.deepEqual(fitScoredToWindow(ids, 7, 16), { ids, from: 7 });
  // A continuation longer than the window loses its first tokens; scoring starts at the window's start.
  assert.deepEqual(fitScoredToWindow(ids, 1, 3), { ids: [6, 7, 8, 9], from: 0 });
});
