/**
 * Every loader on the real files of ../shared/data (MANIFEST.md there gives sources, checksums and counts): the
 * canonical record counts and label distributions, and one-line errors for malformed rows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readColaTsv, readGlueTsv, mrpcTrain, readMrpcTsv } from '../src/data/loaders/glue.js';
import { readSuperGlueJsonl, readWicOriginal } from '../src/data/loaders/superglue.js';
import { readArcJsonl } from '../src/data/loaders/arc.js';
import { readLlmAdaptersJson } from '../src/data/loaders/llm-adapters.js';
import { readGsm8kJsonl } from '../src/data/loaders/gsm8k.js';
import { readMbppJsonl } from '../src/data/loaders/mbpp.js';
import { readHumanEvalProblems } from '../src/data/loaders/humaneval.js';
import { requireDataFile } from '../src/data/data-dir.js';
import { sharedPath } from './shared-fixtures.js';

const data = sharedPath('data');
const at = (...parts: string[]) => join(data.path, ...parts);
const labelCounts = (examples: readonly { label: number }[]) =>
  examples.reduce((counts, { label }) => ((counts[label] = (counts[label] ?? 0) + 1), counts), [] as number[]);
const hint = 'test';

test(
  'GLUE TSVs: RTE, MRPC (train derived from msr_paraphrase_train + dev_ids), CoLA, SST-2',
  { skip: data.skip },
  () => {
    const rte = ['not_entailment', 'entailment'];
    assert.equal(
      readGlueTsv(at('rte', 'train.tsv'), { text: 'sentence1', pair: 'sentence2', label: 'label' }, rte).length,
      2490,
    );
    const rteDev = readGlueTsv(at('rte', 'dev.tsv'), { text: 'sentence1', pair: 'sentence2', label: 'label' }, rte);
    assert.equal(rteDev.length, 277);
    assert.deepEqual(labelCounts(rteDev), [131, 146]); // MANIFEST: RTE dev 146 entailment / 131 not
    const mrpcDev = readMrpcTsv(at('mrpc', 'dev.tsv'));
    assert.equal(mrpcDev.length, 408);
    assert.deepEqual(labelCounts(mrpcDev), [129, 279]); // MANIFEST: MRPC dev 279/129
    const train = mrpcTrain(at('mrpc', 'msr_paraphrase_train.txt'), at('mrpc', 'dev_ids.tsv'));
    assert.equal(train.length, 3668); // GLUE's MRPC train size
    const colaTrain = readColaTsv(at('cola', 'train.tsv'));
    assert.equal(colaTrain.length, 8551);
    assert.deepEqual(labelCounts(colaTrain), [2528, 6023]); // MANIFEST: CoLA 6023/2528
    assert.deepEqual(labelCounts(readColaTsv(at('cola', 'dev.tsv'))), [322, 721]);
    const sst2 = readGlueTsv(at('sst2', 'train.tsv'), { text: 'sentence', label: 'label' }, ['0', '1']);
    assert.equal(sst2.length, 67349);
    assert.deepEqual(labelCounts(sst2), [29780, 37569]);
    assert.deepEqual(
      labelCounts(readGlueTsv(at('sst2', 'dev.tsv'), { text: 'sentence', label: 'label' }, ['0', '1'])),
      [428, 444],
    );
  },
);

test('SuperGLUE JSONL (string labels) and the original WiC files', { skip: data.skip }, () => {
  const boolq = readSuperGlueJsonl(at('boolq', 'superglue', 'val.jsonl'), { text: 'question', pair: 'passage' }, hint);
  assert.equal(boolq.length, 3270);
  const wic = readSuperGlueJsonl(at('wic', 'superglue', 'val.jsonl'), { text: 'sentence1', pair: 'sentence2' }, hint);
  assert.equal(wic.length, 638);
  assert.deepEqual(labelCounts(wic), [319, 319]);
  const wicDir = at('wic', 'WiC_dataset');
  const wicTrain = readWicOriginal(join(wicDir, 'train', 'train.data.txt'), join(wicDir, 'train', 'train.gold.txt'));
  assert.equal(wicTrain.length, 5428);
  assert.deepEqual(labelCounts(wicTrain), [2714, 2714]); // MANIFEST: WiC 2714/2714
  assert.equal(readWicOriginal(join(wicDir, 'dev', 'dev.data.txt'), join(wicDir, 'dev', 'dev.gold.txt')).length, 638);
});

test('ARC JSONL, LLM-Adapters JSON, GSM8K, MBPP, HumanEval', { skip: data.skip }, () => {
  assert.equal(readArcJsonl(at('arc', 'ARC-Easy-Test.jsonl'), hint).length, 2376);
  assert.equal(readArcJsonl(at('arc', 'ARC-Easy-Dev.jsonl'), hint).length, 570);
  assert.equal(readArcJsonl(at('arc', 'ARC-Challenge-Test.jsonl'), hint).length, 1172);
  assert.equal(readArcJsonl(at('arc', 'ARC-Challenge-Dev.jsonl'), hint).length, 299);
  const counts: [string[], number][] = [
    [['arc', 'llm-adapters', 'ARC-Challenge', 'train.json'], 1119],
    [['arc', 'llm-adapters', 'ARC-Easy', 'train.json'], 2251],
    [['openbookqa', 'llm-adapters', 'train.json'], 4957],
    [['openbookqa', 'llm-adapters', 'test.json'], 500],
    [['piqa', 'llm-adapters', 'test.json'], 1838],
    [['siqa', 'llm-adapters', 'test.json'], 1954],
    [['winogrande', 'llm-adapters', 'test.json'], 1267],
    [['boolq', 'llm-adapters', 'train.json'], 9427],
    [['gsm8k', 'llm-adapters', 'test.json'], 1319],
  ];
  for (const [parts, count] of counts)
    assert.equal(readLlmAdaptersJson(at(...parts), hint).length, count, parts.join('/'));
  assert.equal(readGsm8kJsonl(at('gsm8k', 'train.jsonl'), hint).length, 7473);
  assert.equal(readGsm8kJsonl(at('gsm8k', 'test.jsonl'), hint).length, 1319);
  assert.equal(readMbppJsonl(at('mbpp', 'mbpp.jsonl'), hint).length, 974);
  assert.equal(readHumanEvalProblems(at('humaneval', 'HumanEval.jsonl.gz')).length, 164);
});

test('malformed rows and missing files: one line naming the file, the line and the remedy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-loaders-'));
  try {
    writeFileSync(join(dir, 'dev.tsv'), 'index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\n');
    assert.throws(
      () =>
        readGlueTsv(join(dir, 'dev.tsv'), { text: 'sentence1', pair: 'sentence2', label: 'label' }, [
          'x',
          'entailment',
        ]),
      /^UserError: Malformed row at .*dev\.tsv:3: 3 tab-separated columns, expected 4\.$/,
    );
    writeFileSync(join(dir, 'test.jsonl'), '{"question": "q", "answer": "#### 1"}\n{"question": 1}\n');
    assert.throws(() => readGsm8kJsonl(join(dir, 'test.jsonl'), hint), /Malformed row at .*test\.jsonl:2: expected/);
    assert.throws(
      () => requireDataFile('rte', dir, 'rte/train.tsv'),
      /^UserError: Task rte: data file not found at .*rte\/train\.tsv\. Run `mceval data pull rte` or point --data \(MCEVAL_DATA\) at a directory with rte\/train\.tsv\.$/,
    );
    assert.throws(() => requireDataFile('rte', undefined, 'rte/train.tsv'), /pass --data DIR \(or set MCEVAL_DATA\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("SuperGLUE labels as booleans, strings or 0/1, and google/boolq's `answer` field", () => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-superglue-'));
  try {
    const rows = [
      { question: 'q', passage: 'p', label: true },
      { question: 'q', passage: 'p', label: 'false' },
      { question: 'q', passage: 'p', label: 1 },
      { question: 'q', passage: 'p', answer: false },
    ];
    writeFileSync(join(dir, 'val.jsonl'), rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
    const examples = readSuperGlueJsonl(join(dir, 'val.jsonl'), { text: 'question', pair: 'passage' }, hint);
    assert.deepEqual(
      examples.map((example) => example.label),
      [1, 0, 1, 0],
    );
    writeFileSync(join(dir, 'bad.jsonl'), JSON.stringify({ question: 'q', passage: 'p', label: 'maybe' }) + '\n');
    assert.throws(
      () => readSuperGlueJsonl(join(dir, 'bad.jsonl'), { text: 'question', pair: 'passage' }, hint),
      /Malformed row at .*bad\.jsonl:1: label "maybe" is not a boolean/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
