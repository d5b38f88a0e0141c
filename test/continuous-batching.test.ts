/**
 * Continuous batching (generation/generate.ts's `batchSize`, `join: 'under-way'`): prompts past the batch wait and join
 * it as its rows stop, their cache placed beside the rows already decoding. Each row's tokens are those it gets alone, and its log-probs
 * agree to 1e-5 (float32 sums over other padding); fewer decoding steps run than in batches taken one after another;
 * nothing is left allocated. Under a soft prompt (positions count the padding) and without the KV cache, prompts join
 * only an emptied batch: the tokens are then those of the batches one after another.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/engine/rng.js';
import { tf } from '../src/engine/tf.js';
import { loadModel } from '../src/models/load.js';
import { generate, type GeneratedRow } from '../src/generation/generate.js';
import { parsePromptTuningConfig, promptTuningMethod } from '../src/peft/prompt-tuning/index.js';
import { demoCode } from '../src/tasks/demo/code.js';
import { generateResponses } from '../src/evaluation/generation.js';
import { onEachBackend, withEnv } from './helpers.js';
import { initEngine } from '../src/engine/backends.js';
import { SAMPLED, TEXTS, decodingPasses, eachAlone, joinedUnderWay } from './continuous-batching-case.js';

function assertSameRows(actual: readonly GeneratedRow[], expected: readonly GeneratedRow[]): void {
  assert.deepEqual(
    actual.map((row) => [row.ids, row.stopReason]),
    expected.map((row) => [row.ids, row.stopReason]),
  );
  actual.forEach((row, i) =>
    row.logprobs.forEach((value, j) => assert.ok(Math.abs(value - expected[i]!.logprobs[j]!) < 1e-5, `${i}, ${j}`)),
  );
}

onEachBackend(() => {
  test('rows that join a batch under way get the tokens they get alone, in fewer steps than batches in turn', async () => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    const prompts = TEXTS.map((text) => tokenizer.encode(text));
    try {
      const alone = await eachAlone(model, tokenizer);
      // The case's premise: rows stop at many different steps, some at the first token, some not at all.
      const lengths = new Set(alone.map((row) => row.ids.length));
      assert.ok(lengths.size >= 5 && lengths.has(0) && lengths.has(SAMPLED.maxNewTokens), `lengths ${[...lengths]}`);

      const before = tf.memory().numTensors;
      let steps = 0;
      const continuous = await decodingPasses(model, () =>
        generate(model, tokenizer, prompts, {
          ...SAMPLED,
          ...UNDER_WAY,
          batchSize: 4,
          onStep: (done) => (steps = done),
        }),
      );
      assert.equal(tf.memory().numTensors, before);
      assertSameRows(continuous.value, alone);
      assert.ok(joinedUnderWay(continuous.passes), continuous.passes.join(' '));
      assert.ok(
        continuous.passes.every((pass) => Number(pass.split('×')[0]) <= 4),
        continuous.passes.join(' '),
      );
      assert.equal(steps, continuous.passes.filter((pass) => pass.endsWith('×1')).length + 1);

      // The same prompts in batches of 4 one after another: each batch runs as many steps as its longest row.
      let inTurn = 0;
      for (let start = 0; start < prompts.length; start += 4) {
        const streams = prompts.slice(start, start + 4).map((_, i) => start + i);
        const batch = prompts.slice(start, start + 4);
        await generate(model, tokenizer, batch, { ...SAMPLED, streams, onStep: (done) => (inTurn += done - 1) });
        inTurn += 1;
      }
      assert.ok(steps < inTurn, `${steps} steps continuous against ${inTurn} in turn`);
    } finally {
      model.dispose();
    }
  });

  test('every batch size gives the same rows: one row at a time, two, three, all', async () => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    const prompts = TEXTS.map((text) => tokenizer.encode(text));
    try {
      const all = await generate(model, tokenizer, prompts, SAMPLED);
      for (const batchSize of [1, 2, 3])
        assertSameRows(await generate(model, tokenizer, prompts, { ...SAMPLED, batchSize }), all);
      // Greedy, with the same prompt twice: the repeated prompt's pass runs once when it joins, its cache copied.
      const twice = [...prompts.slice(0, 6), prompts[2]!, ...prompts.slice(6)];
      const greedy = { ...SAMPLED, sampling: undefined };
      assertSameRows(
        await generate(model, tokenizer, twice, { ...greedy, ...UNDER_WAY, batchSize: 3 }),
        await generate(model, tokenizer, twice, greedy),
      );
    } finally {
      model.dispose();
    }
  });

  test("a doc's samples join a batch under way together: their prompt's pass runs once where the batch has room", async () => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    // Ten prompts, three samples each, adjacent (as a generation task orders them), in a batch of 12.
    const prompts = TEXTS.flatMap((text) => Array.from({ length: 3 }, () => tokenizer.encode(text)));
    try {
      const run = await decodingPasses(model, () =>
        generate(model, tokenizer, prompts, { ...SAMPLED, ...UNDER_WAY, batchSize: 12 }),
      );
      const promptPasses = run.passes.filter((pass) => !pass.endsWith('×1'));
      // A prompt pass runs each distinct prompt it takes in once; a run of samples cut by the batch's edge would run
      // twice (14 prompt rows here, taking the waiting prompts as they come).
      const passRows = promptPasses.reduce((sum, pass) => sum + Number(pass.split('×')[0]), 0);
      assert.equal(passRows, TEXTS.length, run.passes.join(' '));
      assertSameRows(run.value, await generate(model, tokenizer, prompts, SAMPLED));
    } finally {
      model.dispose();
    }
  });

  test('under a soft prompt and without the KV cache, prompts join only an emptied batch', async () => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    const adapter = promptTuningMethod.apply(
      model,
      parsePromptTuningConfig({ numVirtualTokens: 3, init: 'random' }, 't'),
      new Rng(3),
    );
    const prompts = TEXTS.map((text) => tokenizer.encode(text));
    try {
      // Batches in turn: a soft prompt's positions count the padding, so a row's tokens depend on its batch's.
      const inTurn: GeneratedRow[] = [];
      for (let start = 0; start < prompts.length; start += 4) {
        const streams = prompts.slice(start, start + 4).map((_, i) => start + i);
        inTurn.push(...(await generate(model, tokenizer, prompts.slice(start, start + 4), { ...SAMPLED, streams })));
      }
      for (const useCache of [true, false]) {
        const run = await decodingPasses(model, () =>
          generate(model, tokenizer, prompts, { ...SAMPLED, ...UNDER_WAY, batchSize: 4, useCache }),
        );
        assertSameRows(run.value, inTurn);
        if (useCache) assert.ok(!joinedUnderWay(run.passes), run.passes.join(' '));
      }
    } finally {
      adapter.dispose();
      model.dispose();
    }
  });

  test("a generation task's prompts are decoded in one batch of the evaluation's size, joining it as set", async () => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    try {
      // One sample per doc: their prompts are distinct, as joinedUnderWay needs.
      const docs = demoCode.load(undefined).eval.slice(0, 12);
      // Any lowercase letter ends a response: rows stop at different steps.
      const stopSequences = [...'abcdefghijklmnopqrstuvwxyz'];
      const task = { ...demoCode, maxNewTokens: 8, stopSequences };
      const settings = { samples: 1, temperature: 1.5, topP: 1, seed: 9 };
      const together = await generateResponses(model, tokenizer, task, docs, settings, 12);
      for (const join of ['under-way', 'emptied', undefined]) {
        const inThrees = await withEnv('MCEVAL_GENERATION_JOIN', join, () =>
          decodingPasses(model, () => generateResponses(model, tokenizer, task, docs, settings, 3)),
        );
        assert.ok(
          inThrees.passes.every((pass) => Number(pass.split('×')[0]) <= 3),
          inThrees.passes.join(' '),
        );
        // Unset, prompts join a batch under way.
        assert.equal(joinedUnderWay(inThrees.passes), join !== 'emptied', `${join}: ${inThrees.passes.join(' ')}`);
        assert.deepEqual(inThrees.value, together);
      }
    } finally {
      model.dispose();
    }
  });
});

test('MCEVAL_GENERATION_JOIN is under-way or emptied: anything else stops the engine with one line', async () => {
  await withEnv('MCEVAL_GENERATION_JOIN', 'always', async () => {
    await assert.rejects(
      initEngine('wasm'),
      /MCEVAL_GENERATION_JOIN=always is not a choice mceval has: use under-way or emptied, or unset it\.$/,
    );
  });
});

/** Joining a batch under way whatever MCEVAL_GENERATION_JOIN says (the default). */
const UNDER_WAY = { join: 'under-way' } as const;

test('a batch size that is not a whole number of rows, 1 or more, is refused', async () => {
  const { model, tokenizer } = loadModel('builtin:tiny');
  try {
    for (const batchSize of [0, 2.5, -1])
      await assert.rejects(
        generate(model, tokenizer, [[1]], { maxNewTokens: 2, batchSize }),
        /batchSize must be a whole number/,
      );
  } finally {
    model.dispose();
  }
});
