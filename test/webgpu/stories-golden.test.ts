/**
 * The real pretrained stories260K decoded greedily on webgpu gives llama2.c's ids (test/stories-golden.ts), batched with
 * left padding (2 rows a step): its products on the few-rows shader — q, k and v and gate and up reading the norm
 * inside, o_proj and down_proj adding the residual (down_proj reading the gating), the tied head's x·Eᵀ — and on
 * 64-row tiles (MCEVAL_WEBGPU_FEW_ROWS=0). Skipped without ../shared. No tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { loadLlamaFolder } from '../../src/models/hf/load-folder.js';
import { HfTokenizer } from '../../src/models/tokenizers/hf-tokenizer.js';
import { generate } from '../../src/generation/generate.js';
import { sharedPath } from '../shared-fixtures.js';
import { STORY_AFTER_PROMPT, STORY_FROM_BOS } from '../stories-golden.js';
import { withEnv } from '../helpers.js';
import { dispatchesWhile } from './dispatches.js';

const stories = sharedPath('models', 'stories260K', 'hf');

for (const fewRows of [undefined, '0'])
  test(
    `stories260K decodes llama2.c's greedy ids on webgpu, ${fewRows === '0' ? 'on tiles' : 'few rows'}`,
    { skip: stories.skip },
    () =>
      withEnv('MCEVAL_WEBGPU_FEW_ROWS', fewRows, async () => {
        await initEngine('webgpu');
        const model = loadLlamaFolder(stories.path);
        const tokenizer = HfTokenizer.fromFolder(stories.path);
        const before = tf.memory().numTensors;
        const { value, count } = await dispatchesWhile(['FewRows', 'NormalizedProducts'], () =>
          generate(model, tokenizer, [[1], tokenizer.encode('Once upon a time')], { maxNewTokens: 40 }),
        );
        assert.equal(tf.memory().numTensors, before);
        const [fromBos, fromPrompt] = value;
        assert.deepEqual(fromBos!.ids, STORY_FROM_BOS);
        assert.deepEqual(fromPrompt!.ids, STORY_AFTER_PROMPT);
        // Per decoding step and layer: q/k/v, o, gate/up and down; and the head.
        if (fewRows === undefined) assert.ok(count >= 40 * (4 * 5 + 1), `${count} dispatches on the few-rows shaders`);
        else assert.equal(count, 0);
        model.dispose();
      }),
  );
