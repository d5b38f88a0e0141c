/**
 * Hugging Face exports under their own column names (Parquet written here with hyparquet-writer, JSONL, sharded
 * folders), read as the canonical files are; and `data pull` from a local server that answers as the hub's tree API
 * and parquet conversion do (tests never reach the network).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { packagePath } from '../src/paths.js';
import { getTask } from '../src/tasks/registry.js';
import { loadTaskData } from '../src/data/load-task-data.js';
import type { ClassificationSplits, GenerationSplits, MultipleChoiceSplits } from '../src/tasks/types.js';
import { sharedPath } from './shared-fixtures.js';

type Row = Record<string, unknown>;

/** A Parquet file of `rows`, columns typed from the first row (int64 for integers, as datasets writes them). */
function parquetOf(rows: readonly Row[]): Buffer {
  const names = Object.keys(rows[0]!);
  const columnData = names.map((name) => {
    const data = rows.map((row) => row[name]);
    return typeof data[0] === 'number'
      ? { name, data: data.map((value) => BigInt(value as number)), type: 'INT64' as const }
      : { name, data: data as never[] };
  });
  return Buffer.from(parquetWriteBuffer({ columnData }));
}

function writeExport(dir: string, repo: string, config: string, split: string, rows: readonly Row[], as = 'parquet') {
  const base = join(dir, 'hub', repo, config, split);
  mkdirSync(dirname(base), { recursive: true });
  if (as === 'jsonl') writeFileSync(`${base}.jsonl`, rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
  else if (as === 'shards') {
    mkdirSync(base);
    writeFileSync(join(base, '0000.parquet'), parquetOf(rows.slice(0, 1)));
    writeFileSync(join(base, '0001.parquet'), parquetOf(rows.slice(1)));
  } else writeFileSync(`${base}.parquet`, parquetOf(rows));
}

const withDir = async (body: (dir: string) => Promise<void>) => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-hub-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

test('GLUE exports: ClassLabel ids mapped by name onto the task classes (MNLI orders them differently)', async () => {
  await withDir(async (dir) => {
    const rows = [
      { premise: 'P0', hypothesis: 'H0', label: 0, idx: 0 }, // entailment
      { premise: 'P1', hypothesis: 'H1', label: 1, idx: 1 }, // neutral
      { premise: 'P2', hypothesis: 'H2', label: 2, idx: 2 }, // contradiction
    ];
    writeExport(dir, 'nyu-mll/glue', 'mnli', 'train', rows);
    writeExport(dir, 'nyu-mll/glue', 'mnli', 'validation_mismatched', rows, 'shards');
    const task = getTask('mnli-mismatched');
    const data = (await loadTaskData(task, dir)) as ClassificationSplits;
    const labels = (task as { labels: readonly string[] }).labels;
    assert.deepEqual(
      data.dev.map((example) => [example.text, example.textPair, labels[example.label]]),
      [
        ['P0', 'H0', 'entailment'],
        ['P1', 'H1', 'neutral'],
        ['P2', 'H2', 'contradiction'],
      ],
    );
    assert.equal(data.train.length, 3);
  });
});

test('SuperGLUE, GSM8K, HumanEval + MBPP and the commonsense sets read from their hub exports', async () => {
  await withDir(async (dir) => {
    writeExport(dir, 'aps/super_glue', 'boolq', 'train', [{ question: 'q', passage: 'p', idx: 0, label: 1 }]);
    writeExport(dir, 'aps/super_glue', 'boolq', 'validation', [{ question: 'q2', passage: 'p2', idx: 0, label: 0 }]);
    const boolq = (await loadTaskData(getTask('boolq'), dir)) as ClassificationSplits;
    assert.deepEqual(boolq.dev, [{ text: 'q2', textPair: 'p2', label: 0 }]);

    const wicRow = {
      word: 'bank',
      sentence1: 'S1',
      sentence2: 'S2',
      start1: 0,
      start2: 0,
      end1: 4,
      end2: 4,
      idx: 0,
      label: 1,
    };
    writeExport(dir, 'aps/super_glue', 'wic', 'train', [wicRow], 'jsonl');
    writeExport(dir, 'aps/super_glue', 'wic', 'validation', [wicRow]);
    const wic = (await loadTaskData(getTask('wic'), dir)) as ClassificationSplits;
    assert.deepEqual(wic.dev, [{ text: 'bank: S1', textPair: 'S2', label: 1 }]);

    const answer = 'She has 2+3 = <<2+3=5>>5.\n#### 5';
    writeExport(dir, 'openai/gsm8k', 'main', 'train', [{ question: 'Q1', answer }]);
    writeExport(dir, 'openai/gsm8k', 'main', 'test', [{ question: 'Q2', answer }]);
    const cot = (await loadTaskData(getTask('gsm8k-cot'), dir)) as GenerationSplits;
    assert.equal(cot.eval[0]!.answer, '5');
    assert.ok(cot.eval[0]!.prompt.endsWith('Q: Q2\nA:'));

    const problem = {
      task_id: 'X/0',
      prompt: 'def f():\n',
      canonical_solution: '  return 1\n',
      test: 'def check(c): pass',
      entry_point: 'f',
    };
    writeExport(dir, 'openai/openai_humaneval', 'openai_humaneval', 'test', [problem]);
    const mbpp = (id: number) => ({
      task_id: id,
      text: `T${id}`,
      code: `C${id}`,
      test_list: [`assert ${id}`],
      test_setup_code: '',
      challenge_test_list: [],
    });
    const splits: [string, number][] = [
      ['prompt', 1],
      ['test', 11],
      ['validation', 511],
      ['train', 601],
    ];
    for (const [split, id] of splits) writeExport(dir, 'google-research-datasets/mbpp', 'full', split, [mbpp(id)]);
    const humaneval = (await loadTaskData(getTask('humaneval'), dir)) as GenerationSplits;
    assert.equal(humaneval.eval[0]!.id, 'X/0');
    // mbpp.jsonl's order: task ids ascending.
    assert.deepEqual(
      humaneval.train.map((pair) => pair.target),
      ['C1', 'C11', 'C511', 'C601'],
    );

    // Multiple choice: the evaluation split from the hub, fine-tuning from LLM-Adapters' file.
    const llm = [{ instruction: 'i', input: '', output: 'the correct answer is answer1', answer: 'answer1' }];
    for (const path of [
      'arc/llm-adapters/ARC-Easy/train.json',
      'openbookqa/llm-adapters/train.json',
      'piqa/llm-adapters/train.json',
      'siqa/llm-adapters/train.json',
      'winogrande/llm-adapters/train.json',
      'hellaswag/llm-adapters/train.json',
    ]) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), JSON.stringify(llm));
    }
    writeExport(dir, 'allenai/ai2_arc', 'ARC-Easy', 'test', [
      { id: 'Q1', question: 'Why?', choices: { text: ['a', 'b', 'c'], label: ['A', 'B', 'C'] }, answerKey: 'C' },
    ]);
    writeExport(dir, 'allenai/openbookqa', 'main', 'test', [
      { id: 'O1', question_stem: 'Stem', choices: { text: ['x', 'y'], label: ['A', 'B'] }, answerKey: 'B' },
    ]);
    writeExport(dir, 'baber/piqa', 'default', 'validation', [{ goal: 'G', sol1: 's1', sol2: 's2', label: 1 }]);
    writeExport(dir, 'allenai/social_i_qa', 'default', 'validation', [
      { context: 'C', question: 'Q', answerA: 'a', answerB: 'b', answerC: 'c', label: '3' },
    ]);
    writeExport(dir, 'allenai/winogrande', 'winogrande_xl', 'validation', [
      { sentence: 'A _ b.', option1: 'x', option2: 'y', answer: '2' },
    ]);
    writeExport(dir, 'Rowan/hellaswag', 'default', 'validation', [
      {
        ind: 4,
        activity_label: 'Act',
        ctx_a: 'A.',
        ctx_b: 'then',
        ctx: 'A. then',
        endings: ['e1', 'e2', 'e3', 'e4'],
        label: '2',
      },
    ]);
    const docs = async (name: string) => ((await loadTaskData(getTask(name), dir)) as MultipleChoiceSplits).eval[0]!;
    assert.deepEqual(await docs('arc-easy-mc'), {
      id: 'Q1',
      context: 'Question: Why?\nAnswer:',
      choices: ['a', 'b', 'c'],
      gold: 2,
    });
    assert.deepEqual(await docs('openbookqa-mc'), { id: 'O1', context: 'Stem', choices: ['x', 'y'], gold: 1 });
    assert.deepEqual(await docs('piqa-mc'), {
      id: '0',
      context: 'Question: G\nAnswer:',
      choices: ['s1', 's2'],
      gold: 1,
    });
    assert.equal((await docs('siqa-mc')).gold, 2);
    assert.deepEqual(await docs('winogrande-mc'), {
      id: '0',
      context: 'A ',
      choices: ['A x', 'A y'],
      continuation: 'b.',
      gold: 1,
    });
    assert.deepEqual(await docs('hellaswag-mc'), {
      id: '4',
      context: 'Act: A. Then',
      choices: ['e1', 'e2', 'e3', 'e4'],
      gold: 2,
    });
  });
});

const data = sharedPath('data');

test('an RTE export under nyu-mll/glue names gives the examples the GLUE TSVs give', { skip: data.skip }, async () => {
  const rte = getTask('rte');
  const canonical = rte.load(data.path) as ClassificationSplits;
  const labels = (rte as { labels: readonly string[] }).labels;
  const hubRows = (examples: ClassificationSplits['train']) =>
    examples.map((example, idx) => ({
      sentence1: example.text,
      sentence2: example.textPair!,
      label: ['entailment', 'not_entailment'].indexOf(labels[example.label]!),
      idx,
    }));
  await withDir(async (dir) => {
    writeExport(dir, 'nyu-mll/glue', 'rte', 'train', hubRows(canonical.train));
    writeExport(dir, 'nyu-mll/glue', 'rte', 'validation', hubRows(canonical.dev));
    assert.deepEqual(await loadTaskData(rte, dir), canonical);
  });
});

test('bad exports: a malformed row names the file and row, a broken file says so, neither source names both', async () => {
  await withDir(async (dir) => {
    writeExport(dir, 'nyu-mll/glue', 'rte', 'train', [{ sentence1: 'a', sentence2: 'b', label: 0, idx: 0 }]);
    writeExport(dir, 'nyu-mll/glue', 'rte', 'validation', [
      { sentence1: 'a', sentence2: 'b', label: 0, idx: 0 },
      { sentence1: 'a', sentence2: 'b', label: -1, idx: 1 },
    ]);
    await assert.rejects(
      loadTaskData(getTask('rte'), dir),
      /^UserError: Malformed row at .*validation\.parquet row 2: label -1 is not a class id 0\.\.1/,
    );
    writeFileSync(join(dir, 'hub', 'nyu-mll', 'glue', 'rte', 'validation.parquet'), 'not parquet');
    await assert.rejects(loadTaskData(getTask('rte'), dir), /Cannot read .*validation\.parquet as Parquet/);
    await assert.rejects(
      loadTaskData(getTask('cola'), dir),
      (error: Error) =>
        /^Task cola: data file not found at .*cola\/train\.tsv, nor a Hugging Face export at .*hub\/nyu-mll\/glue\/cola\/train\(\.parquet\|\.jsonl\|\/\)\. Run `mceval data pull cola`/.test(
          error.message,
        ) && !error.message.includes('\n'),
    );
  });
});

let server: Server;
let endpoint = '';
const served = new Map<string, Buffer>();
let corruptShard = false;

before(async () => {
  server = createServer((request, response) => {
    const body = served.get(request.url!);
    if (body === undefined) {
      response.writeHead(404).end();
      return;
    }
    response
      .writeHead(200)
      .end(corruptShard && request.url!.endsWith('.parquet') ? Buffer.concat([body, Buffer.from('x')]) : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => server.close());

/** Serves one split as the hub does: a tree listing with each shard's LFS sha256, and the shards under resolve/. */
function serveSplit(repo: string, config: string, split: string, shards: readonly Buffer[]) {
  const branch = encodeURIComponent('refs/convert/parquet');
  const entries = shards.map((shard, n) => {
    const path = `${config}/${split}/${String(n).padStart(4, '0')}.parquet`;
    served.set(`/datasets/${repo}/resolve/${branch}/${path}`, shard);
    const oid = createHash('sha256').update(shard).digest('hex');
    return { type: 'file', path, size: shard.length, lfs: { oid, size: shard.length } };
  });
  served.set(`/api/datasets/${repo}/tree/${branch}/${config}/${split}`, Buffer.from(JSON.stringify(entries)));
}

const mceval = (args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, [packagePath('bin', 'run.js'), ...args], { reject: false, env });

test('data pull fetches hub splits, verified by sha256; a corrupted shard leaves no split behind', async () => {
  const row = (n: number) => ({ sentence1: `s${n}`, sentence2: `t${n}`, label: n % 2, idx: n });
  serveSplit('nyu-mll/glue', 'rte', 'train', [parquetOf([row(0), row(1)]), parquetOf([row(2)])]);
  serveSplit('nyu-mll/glue', 'rte', 'validation', [parquetOf([row(3)])]);
  await withDir(async (dir) => {
    corruptShard = true;
    const refused = await mceval(['data', 'pull', 'rte', '--data', dir], { HF_ENDPOINT: endpoint });
    assert.notEqual(refused.exitCode, 0);
    assert.match(
      refused.stderr,
      /^Error: Checksum mismatch for http:\/\/127\.0\.0\.1:\d+\/datasets\/nyu-mll\/glue\/resolve\/refs%2Fconvert%2Fparquet\/rte\/train\/0000\.parquet/,
    );
    assert.equal(existsSync(join(dir, 'hub', 'nyu-mll', 'glue', 'rte', 'train')), false);
    corruptShard = false;
    const pulled = await mceval(['data', 'pull', 'rte', '--data', dir, '--json'], { HF_ENDPOINT: endpoint });
    assert.equal(pulled.exitCode, 0, pulled.stderr);
    assert.deepEqual(JSON.parse(pulled.stdout).pulled, [
      'hub/nyu-mll/glue/rte/train',
      'hub/nyu-mll/glue/rte/validation',
    ]);
    assert.deepEqual(readdirSync(join(dir, 'hub', 'nyu-mll', 'glue', 'rte', 'train')), [
      '0000.parquet',
      '0001.parquet',
    ]);
    const verified = await mceval(['data', 'verify', 'rte', '--data', dir, '--json']);
    const [check] = JSON.parse(verified.stdout);
    assert.deepEqual(check.counts, [3, 1]);
    assert.match(check.problem, /3\/1 records, expected 2490\/277/);
    // The hub has PIQA's evaluation split but not the LLM-Adapters fine-tuning file: the pull says what is left.
    serveSplit('baber/piqa', 'default', 'validation', [parquetOf([{ goal: 'g', sol1: 'a', sol2: 'b', label: 0 }])]);
    const partial = await mceval(['data', 'pull', 'piqa-mc', '--data', dir], { HF_ENDPOINT: endpoint });
    assert.notEqual(partial.exitCode, 0);
    assert.match(
      partial.stderr,
      /^Error: Pulled hub\/baber\/piqa\/default\/validation, but piqa-mc still cannot load: .*piqa\/llm-adapters\/train\.json/,
    );
    assert.ok(existsSync(join(dir, 'hub', 'baber', 'piqa', 'default', 'validation', '0000.parquet')));
    const missing = await mceval(['data', 'pull', 'cola', '--data', dir], { HF_ENDPOINT: endpoint });
    assert.match(missing.stderr, /^Error: The hub has no parquet conversion of nyu-mll\/glue config cola split train/);
  });
});

test("OpenBookQA's release JSONL and its hub export give the same documents", async () => {
  const { readOpenbookqa, openbookqaHubDocs } = await import('../src/data/loaders/commonsense-originals.js');
  await withDir(async (dir) => {
    const path = join(dir, 'test.jsonl');
    const choices = [
      { text: 'sun', label: 'A' },
      { text: 'moon', label: 'B' },
    ];
    writeFileSync(
      path,
      `${JSON.stringify({ id: '7-980', question: { stem: 'What glows?', choices }, answerKey: 'B' })}\n`,
    );
    const released = readOpenbookqa(path);
    assert.deepEqual(released, [{ id: '7-980', context: 'What glows?', choices: ['sun', 'moon'], gold: 1 }]);
    const hubRow = {
      id: '7-980',
      question_stem: 'What glows?',
      choices: { text: ['sun', 'moon'], label: ['A', 'B'] },
      answerKey: 'B',
    };
    assert.deepEqual(openbookqaHubDocs([{ value: hubRow, where: 'x row 1' }]), released);
    assert.throws(
      () => openbookqaHubDocs([{ value: { ...hubRow, answerKey: 'E' }, where: 'x row 1' }]),
      /Malformed row at x row 1: answerKey E is not a choice label/,
    );
  });
});
