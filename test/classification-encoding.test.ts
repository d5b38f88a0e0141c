/** How a decoder's classification examples become token ids: pairs on two lines, cut longest-first past the limit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeClassificationExample } from '../src/runners/classification.js';
import { ByteLevelTokenizer } from '../src/models/tokenizers/byte-level.js';
import { HfTokenizer } from '../src/models/tokenizers/hf-tokenizer.js';
import { sharedPath } from './shared-fixtures.js';

const bytes = new ByteLevelTokenizer();

test('a pair that fits is the joined text; past the limit the longer part loses its end first, BOS kept', () => {
  const example = { text: 'premise that is long', textPair: 'short', label: 0 };
  const whole = bytes.encode('premise that is long\nshort'); // BOS + 20 + 1 + 5 bytes = 27 tokens
  assert.deepEqual(encodeClassificationExample(bytes, example, 64), whole);
  // Limit 16: 15 tokens after BOS; the second part ("\nshort", 6) fits whole, the first keeps 15 − 6 = 9 bytes.
  const cut = encodeClassificationExample(bytes, example, 16);
  assert.equal(cut.length, 16);
  assert.equal(bytes.decode(cut), 'premise t\nshort');
  assert.equal(cut[0], bytes.bosId);
  // Limit 9: both parts longer than half of 8: four bytes each (an even budget splits evenly).
  assert.equal(bytes.decode(encodeClassificationExample(bytes, example, 9)), 'prem\nsho');
  // A single text loses its end.
  assert.equal(bytes.decode(encodeClassificationExample(bytes, { text: 'abcdefgh', label: 1 }, 4)), 'abc');
});

const stories = sharedPath('models', 'stories260K', 'hf');
test(
  'with a SentencePiece tokenizer the cut pair keeps the joined text’s own tokens of each part',
  { skip: stories.skip },
  () => {
    const tokenizer = HfTokenizer.fromFolder(stories.path);
    const example = {
      text: 'Once upon a time there was a little girl who liked to play in the park with her dog.',
      textPair: 'The girl had a dog.',
      label: 0,
    };
    const whole = tokenizer.encode(`${example.text}\n${example.textPair}`);
    const first = tokenizer.encode(example.text);
    assert.deepEqual(whole.slice(0, first.length), first); // the first part's tokens begin the joined text
    const second = whole.slice(first.length);
    const limit = whole.length - 6;
    const cut = encodeClassificationExample(tokenizer, example, limit);
    assert.equal(cut.length, limit);
    // The second part is shorter: it stays whole, and the first part gives up the six tokens.
    assert.deepEqual(cut, [...first.slice(0, first.length - 6), ...second]);
  },
);
