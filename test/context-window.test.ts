/**
 * Left truncation of over-long inputs, as lm-eval's HF model does it (generate_until and loglikelihood), and of
 * fine-tuning pairs (the prompt's start goes first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitPromptToWindow, fitScoredToWindow } from '../src/generation/context-window.js';
import { promptContinuationIds } from '../src/evaluation/prompt-rendering.js';
import { ByteLevelTokenizer } from '../src/models/tokenizers/byte-level.js';

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

test('a fine-tuning pair past its length limit loses the start of its prompt, then the end of its target', () => {
  const tokenizer = new ByteLevelTokenizer();
  const pair = (maxLength: number) =>
    promptContinuationIds(tokenizer, 'abcdef', 'XYZ', { maxLength, end: [tokenizer.eosId] });
  const text = (ids: number[]) => tokenizer.decode(ids.filter((id) => id !== tokenizer.eosId));
  const whole = pair(64); // BOS, six prompt bytes, three target bytes, EOS
  assert.equal(whole.ids.length, 11);
  assert.equal(whole.targetStart, 7);
  const cut = pair(6); // the prompt's first five tokens (BOS, a, b, c, d) go; the target and EOS stay
  assert.deepEqual(cut.ids, whole.ids.slice(5));
  assert.equal(cut.targetStart, 2);
  assert.equal(text(cut.ids.slice(cut.targetStart)), 'XYZ');
  const short = pair(3); // the target alone is too long: no prompt left, the target's end and EOS cut
  assert.deepEqual(short.ids, whole.ids.slice(7, 10));
  assert.equal(short.targetStart, 0);
});
