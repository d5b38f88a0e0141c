import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDemoSentiment } from '../src/data/generators/demo-sentiment.js';
import { toJsonl } from '../src/data/jsonl-format.js';
import { demoSentiment } from '../src/tasks/demo/sentiment.js';
import { readClassificationJsonl } from '../src/data/jsonl.js';
import { packagePath } from '../src/paths.js';
import type { ClassificationExample } from '../src/tasks/types.js';

test('the committed fixtures are exactly what the seeded generator makes', () => {
  const { train, dev } = generateDemoSentiment();
  assert.equal(readFileSync(packagePath('fixtures/demo-sentiment/train.jsonl'), 'utf8'), toJsonl(train));
  assert.equal(readFileSync(packagePath('fixtures/demo-sentiment/dev.jsonl'), 'utf8'), toJsonl(dev));
});

test('splits are disjoint and roughly balanced', () => {
  const { train, dev } = demoSentiment.load(undefined);
  const trainTexts = new Set(train.map((e) => e.text));
  assert.ok(dev.every((e) => !trainTexts.has(e.text)));
  const positiveRate = dev.filter((e) => e.label === 1).length / dev.length;
  assert.ok(positiveRate > 0.4 && positiveRate < 0.6, `positive rate ${positiveRate}`);
});

/** The best accuracy any rule "label = c iff word w is present" reaches. */
function bestSingleWordAccuracy(examples: readonly ClassificationExample[]): number {
  const words = new Set(examples.flatMap((e) => e.text.split(/[^a-z']+/).filter(Boolean)));
  let best = 0;
  for (const word of words) {
    const hits =
      examples.filter((e) => e.text.split(/[^a-z']+/).includes(word) === (e.label === 1)).length / examples.length;
    best = Math.max(best, hits, 1 - hits);
  }
  return best;
}

test('no single word separates the classes', () => {
  const { train } = demoSentiment.load(undefined);
  const best = bestSingleWordAccuracy(train);
  assert.ok(best < 0.65, `a single word reaches ${best}`);
  // …while the rule that knows negation and "but" is perfect, so the labels are learnable.
  assert.ok(
    bestSingleWordAccuracy([
      { text: 'good', label: 1 },
      { text: 'bad', label: 0 },
    ]) === 1,
  );
});

test('a malformed row names the file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-'));
  const path = join(dir, 'malformed.jsonl');
  writeFileSync(path, '{"text":"ok","label":1}\n{"text":"bad","label":7}\n');
  try {
    assert.throws(
      () => readClassificationJsonl(path, 2),
      /Malformed row at .*malformed\.jsonl:2: expected \{"text": string, "label": integer in 0\.\.1\}/,
    );
  } finally {
    rmSync(dir, { recursive: true });
  }
});
