/**
 * fineTune's batch shaping: `padToMultipleOf` pads each batch further without changing what it learns (the padding is
 * masked: without dropout, the same losses and weights), and `groupByLength` visits transformers' length-grouped order
 * (its golden test: length-grouped.test.ts).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { loraMethod } from '../src/peft/lora/index.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { fineTune, type EncodedExample, type TrainResult } from '../src/train/fine-tune.js';
import type { PaddedBatch } from '../src/models/tokenizers/padding.js';
import { parsePreset } from '../src/peft/preset.js';
import { packagePath } from '../src/paths.js';
import { columnsBut, mceval, onEachBackend } from './helpers.js';

/** Sentences of 2 to 13 words: label 1 iff one of them is "yes". */
function variedExamples(encode: (text: string) => number[]): EncodedExample[] {
  const rng = new Rng(4);
  const words = ['the', 'a', 'one', 'this', 'film', 'was'];
  return Array.from({ length: 40 }, () => {
    const label = rng.integer(2);
    const filler = Array.from({ length: 1 + rng.integer(12) }, () => words[rng.integer(words.length)]!);
    return { ids: encode([label === 1 ? 'yes' : 'no', ...filler].join(' ')), label };
  });
}

interface ShapedRun {
  readonly result: TrainResult;
  /** Each step's padded length and its rows' longest, in order. */
  readonly batches: { readonly length: number; readonly longest: number; readonly padding: number }[];
  readonly weights: Float32Array[];
}

async function shapedRun(options: { padToMultipleOf?: number; groupByLength?: boolean }): Promise<ShapedRun> {
  const { model, tokenizer } = loadModel('builtin:tiny');
  model.addClassificationHead(2);
  const adapter = loraMethod.apply(model, parseLoraConfig({ r: 4, alpha: 8 }, 't'), new Rng(1));
  const batches: ShapedRun['batches'] = [];
  const classify = model.classify.bind(model);
  model.classify = (batch: PaddedBatch, context) => {
    let longest = 0;
    let padding = 0;
    for (let b = 0; b < batch.batchSize; b++) {
      let real = 0;
      for (let t = 0; t < batch.length; t++) real += batch.mask[b * batch.length + t]!;
      longest = Math.max(longest, real);
      padding += batch.length - real;
    }
    batches.push({ length: batch.length, longest, padding });
    return classify(batch, context);
  };
  const groups = [...adapter.groups, { name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 }];
  try {
    const result = await fineTune({
      model,
      groups,
      examples: variedExamples((text) => tokenizer.encode(text)),
      learningRate: 0.01,
      batchSize: 4,
      epochs: 2,
      weightDecay: 0.01,
      warmupRatio: 0.1,
      maxGradNorm: 1,
      rng: new Rng(2),
      ...options,
    });
    const weights = groups.flatMap((group) => group.variables.map((variable) => variable.dataSync() as Float32Array));
    return { result, batches, weights };
  } finally {
    adapter.dispose();
    model.dispose();
  }
}

/** Two runs' steps, losses, gradient norms and weights equal up to float32 rounding. */
function assertSameTrained(
  run: { readonly result: TrainResult; readonly weights: Float32Array[] },
  other: { readonly result: TrainResult; readonly weights: Float32Array[] },
): void {
  assert.equal(run.result.steps, other.result.steps);
  run.result.log.forEach((entry, i) => {
    const expected = other.result.log[i]!;
    assert.ok(Math.abs(entry.loss - expected.loss) <= 1e-5 * Math.abs(expected.loss), `step ${i + 1} loss`);
    assert.ok(Math.abs(entry.grad_norm - expected.grad_norm) <= 1e-4 * expected.grad_norm, `step ${i + 1} norm`);
  });
  run.weights.forEach((values, v) =>
    values.forEach((value, i) => assert.ok(Math.abs(value - other.weights[v]![i]!) <= 1e-5, `weight ${v}[${i}]`)),
  );
}

onEachBackend(() => {
  test('padToMultipleOf pads every batch to a multiple and trains the same weights (no dropout)', async () => {
    const before = tf.memory().numTensors;
    const plain = await shapedRun({});
    const padded = await shapedRun({ padToMultipleOf: 8 });
    assert.equal(tf.memory().numTensors, before, 'a training run leaked tensors');
    assert.ok(
      plain.batches.some((batch) => batch.length % 8 !== 0),
      'the plain run already padded to multiples',
    );
    for (const [i, batch] of padded.batches.entries()) {
      assert.equal(batch.length, Math.ceil(batch.longest / 8) * 8, `step ${i + 1}`);
      assert.equal(batch.longest, plain.batches[i]!.longest, `step ${i + 1} trained other rows`);
    }
    assertSameTrained(padded, plain);
  });

  test('padToMultipleOf on causal-LM rows in two micro-batches: the loss at every position trains the same weights', async () => {
    // Prompt and answer: the answer's tokens the targets, 2 to 13 of them a row; each step's micro-batches count
    // different numbers of targets, so each one's share of the step's loss changes from step to step.
    const causalRun = async (padToMultipleOf: number) => {
      const { model, tokenizer } = loadModel('builtin:tiny');
      const adapter = loraMethod.apply(model, parseLoraConfig({ r: 4, alpha: 8 }, 't'), new Rng(1));
      try {
        const examples = variedExamples((text) => tokenizer.encode(text)).map((example) => ({
          ...example,
          targetStart: 2,
        }));
        const result = await fineTune({
          model,
          groups: adapter.groups,
          examples,
          learningRate: 0.01,
          batchSize: 4,
          epochs: 1,
          weightDecay: 0.01,
          warmupRatio: 0.1,
          maxGradNorm: 1,
          rng: new Rng(2),
          objective: 'causal-lm',
          gradientAccumulation: 2,
          padToMultipleOf,
        });
        const weights = adapter.groups.flatMap((group) => group.variables.map((v) => v.dataSync() as Float32Array));
        return { result, weights };
      } finally {
        adapter.dispose();
        model.dispose();
      }
    };
    const before = tf.memory().numTensors;
    const plain = await causalRun(1);
    const padded = await causalRun(8);
    assert.equal(tf.memory().numTensors, before, 'a training run leaked tensors');
    assertSameTrained(padded, plain);
  });

  test('groupByLength batches rows of about one length, the longest first, from the same shuffle', async () => {
    const plain = await shapedRun({});
    const grouped = await shapedRun({ groupByLength: true });
    const padding = (run: ShapedRun) => run.batches.reduce((sum, batch) => sum + batch.padding, 0);
    const longest = Math.max(...plain.batches.map((batch) => batch.longest));
    assert.equal(grouped.batches[0]!.longest, longest);
    assert.equal(grouped.result.steps, plain.result.steps);
    // 40 rows, batches of 4: mega-batches of 2 batches, each sorted longest first.
    for (let step = 0; step < 10; step += 2) {
      assert.ok(grouped.batches[step]!.length >= grouped.batches[step + 1]!.length, `epoch 1, step ${step + 1}`);
    }
    assert.ok(padding(grouped) < padding(plain), `padded ${padding(grouped)} against ${padding(plain)} tokens`);
  });
});

describe('a preset that shapes its batches', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-batch-shape-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const lora = JSON.parse(readFileSync(packagePath('adapters', 'lora.json'), 'utf8')) as Record<string, unknown>;
  const preset = (training: Record<string, unknown>) => {
    const path = join(
      dir,
      `preset-${Object.keys(training).join('-') || 'plain'}-${Object.values(training).join('-')}.json`,
    );
    writeFileSync(path, JSON.stringify({ ...lora, training: { epochs: 1, ...training } }));
    return path;
  };

  /** results.csv of a small demo-sentiment run of `adapter` on cpu, with `extra` flags: its header and rows. */
  const csvOf = (adapter: string, out: string, extra: readonly string[] = []) => {
    const run = mceval([
      'run',
      ...['--task', 'demo-sentiment', '--adapter', adapter, '--grid', 'lr=1e-3', '--grid', 'bs=4,8'],
      ...['--limit', '16', '--train-limit', '32', '--backend', 'cpu', '--out', join(dir, out), '--quiet', ...extra],
    ]);
    assert.equal(run.code, 0, run.stderr);
    return readFileSync(join(dir, out, 'results.csv'), 'utf8');
  };
  const firstRow = (csv: string) => {
    const [header, row] = csv
      .trim()
      .split('\n')
      .map((line) => line.split(','));
    return new Map(header!.map((name, i) => [name, row![i]]));
  };

  test('says which setting it ran with in results.csv, and only then', () => {
    const shaped = firstRow(csvOf(preset({ padToMultipleOf: 16, groupByLength: true }), 'shaped'));
    assert.equal(shaped.get('pad_to_multiple_of'), '16');
    assert.equal(shaped.get('group_by_length'), 'true');
    const plain = firstRow(csvOf(preset({}), 'plain'));
    assert.equal(plain.has('pad_to_multiple_of'), false);
    assert.equal(plain.has('group_by_length'), false);
  });

  test('--pad-to-multiple-of and --(no-)group-by-length run as the preset keys do, in worker threads too', () => {
    const fromPreset = csvOf(preset({ padToMultipleOf: 16, groupByLength: true }), 'by-preset');
    const flags = ['--pad-to-multiple-of', '16', '--group-by-length'];
    const fromFlags = csvOf(preset({}), 'by-flags', flags);
    // The same runs (the same keys: the preset's name, method, adapter and training settings), the same numbers.
    assert.deepEqual(columnsBut(fromFlags, ['run_dir']), columnsBut(fromPreset, ['run_dir']));
    const inWorkers = csvOf(preset({}), 'by-flags-jobs', [...flags, '--jobs', '2']);
    assert.deepEqual(columnsBut(inWorkers, ['run_dir']), columnsBut(fromPreset, ['run_dir']));
    // --pad-to-multiple-of 1 is the preset without it.
    const one = csvOf(preset({ padToMultipleOf: 16 }), 'one', ['--pad-to-multiple-of', '1']);
    const plainAgain = columnsBut(csvOf(preset({}), 'plain-again'), ['run_dir']);
    assert.deepEqual(columnsBut(one, ['run_dir']), plainAgain);
    // --no-group-by-length is the preset without groupByLength.
    const ungrouped = csvOf(preset({ groupByLength: true }), 'ungrouped', ['--no-group-by-length']);
    assert.deepEqual(columnsBut(ungrouped, ['run_dir']), plainAgain);
  });

  test('--pad-to-multiple-of 0 is refused in one line, and leaves no results', () => {
    const out = join(dir, 'refused');
    const run = mceval([
      'run',
      '--task',
      'demo-sentiment',
      '--adapter',
      'lora',
      '--pad-to-multiple-of',
      '0',
      '--out',
      out,
    ]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /pad-to-multiple-of/);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.equal(existsSync(join(out, 'results.csv')), false);
  });

  test('a preset without them keeps the training settings (and so its runs’ keys) it had', () => {
    assert.deepEqual(Object.keys(parsePreset(lora, 'lora.json').training).sort(), [
      'divergenceFactor',
      'divergencePatience',
      'epochs',
      'gradientAccumulation',
      'maxGradNorm',
      'warmupRatio',
      'weightDecay',
    ]);
  });

  for (const [training, message] of [
    [{ padToMultipleOf: 0 }, /"padToMultipleOf" in the "training" section of .* must be/],
    [{ padToMultipleOf: 2.5 }, /"padToMultipleOf" in the "training" section of .* must be/],
    [{ groupByLength: 'yes' }, /^"groupByLength" in the "training" section of .* must be true or false\.$/],
  ] as const) {
    test(`refuses ${JSON.stringify(training)} in one line`, () => {
      assert.throws(() => parsePreset({ ...lora, training }, 'bad.json'), { message });
    });
  }
});
