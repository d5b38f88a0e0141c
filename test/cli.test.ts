/** The CLI as users run it: a real process, real flags, real files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mceval, metricColumns } from './helpers.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mceval-cli-'));
}

test('--help lists run, doctor, tasks and adapters', () => {
  const { code, stdout } = mceval(['--help']);
  assert.equal(code, 0);
  for (const command of ['run', 'doctor', 'tasks', 'adapters']) assert.match(stdout, new RegExp(`\\n  ${command} `));
  const runHelp = mceval(['run', '--help']).stdout;
  assert.match(runHelp, /EXAMPLES[\s\S]*mceval run --task demo-sentiment --adapter lora/);
});

test('tasks, adapters and doctor print only JSON with --json', () => {
  const tasks = JSON.parse(mceval(['tasks', '--json']).stdout);
  assert.deepEqual(
    tasks.map((t: { name: string }) => t.name),
    [
      'demo-sentiment',
      'demo-arith',
      'demo-code',
      'mrpc',
      'cola',
      'rte',
      'sst2',
      'qnli',
      'qqp',
      'mnli-matched',
      'mnli-mismatched',
      'boolq',
      'wic',
      'piqa',
      'siqa',
      'winogrande',
      'arc-easy',
      'arc-challenge',
      'openbookqa',
      'boolq-generation',
      'hellaswag',
      'arc-easy-mc',
      'arc-challenge-mc',
      'piqa-mc',
      'siqa-mc',
      'winogrande-mc',
      'openbookqa-mc',
      'hellaswag-mc',
      'gsm8k',
      'gsm8k-5shot',
      'gsm8k-chat',
      'gsm8k-5shot-chat',
      'gsm8k-cot',
      'gsm8k-cot-llama',
      'humaneval',
    ],
  );
  const adapters = JSON.parse(mceval(['adapters', '--json']).stdout);
  assert.ok(adapters.some((a: { name: string }) => a.name === 'lora'));
  const doctor = mceval(['doctor', '--json', '--size', '64']);
  assert.equal(doctor.code, 0);
  const report = JSON.parse(doctor.stdout);
  assert.equal(report.chosen, 'wasm');
  assert.ok(report.matmul.relativeError < 1e-5);
  assert.ok(
    report.backends.some(
      (b: { id: string; available: boolean; reason?: string }) => b.id === 'tensorflow' && !b.available && b.reason,
    ),
  );
});

test('MCEVAL_BACKEND chooses the backend', () => {
  const report = JSON.parse(mceval(['doctor', '--json', '--size', '32'], { MCEVAL_BACKEND: 'cpu' }).stdout);
  assert.equal(report.chosen, 'cpu');
  // Unset, a generation's waiting prompts join its batch under way.
  assert.equal(report.generationJoin, 'under-way');
});

test('doctor says when waiting prompts join a generation batch, as MCEVAL_GENERATION_JOIN sets it', () => {
  const doctor = mceval(['doctor', '--size', '32'], { MCEVAL_BACKEND: 'cpu', MCEVAL_GENERATION_JOIN: 'emptied' });
  assert.equal(doctor.code, 0);
  assert.match(
    doctor.stdout,
    /\nGeneration: waiting prompts join a batch once it has emptied \(MCEVAL_GENERATION_JOIN\)\n/,
  );
  const bad = mceval(['doctor', '--size', '32'], { MCEVAL_GENERATION_JOIN: 'sometimes' });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /MCEVAL_GENERATION_JOIN=sometimes is not a choice mceval has: use under-way or emptied/);
});

test('a bad engine setting in the environment stops a run with one line before its store is made', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [
      { MCEVAL_HEAD_CHUNK_ELEMENTS: '64k' },
      /^Error: MCEVAL_HEAD_CHUNK_ELEMENTS=64k is not a number of logits per chunk: .*unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_PRODUCT_TILE: '96' },
      /^Error: MCEVAL_WEBGPU_PRODUCT_TILE=96 is not a tile mceval has: use 64 or 128, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_WEIGHT_GRADIENTS: 'splitk' },
      /^Error: MCEVAL_WEBGPU_WEIGHT_GRADIENTS=splitk is not a choice mceval has: use split or tfjs, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS: 'soon' },
      /^Error: MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS=soon is not a choice mceval has: use later or now, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_ATTENTION_GRADIENT: 'merged' },
      /^Error: MCEVAL_WEBGPU_ATTENTION_GRADIENT=merged is not a choice mceval has: use together or apart, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_INLINE_NARROW: 'yes' },
      /^Error: MCEVAL_WEBGPU_INLINE_NARROW=yes is not a choice mceval has: use auto, always or never, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_PRODUCTS: 'some' },
      /^Error: MCEVAL_WEBGPU_PRODUCTS=some is not a choice mceval has: use transposed, all or tfjs, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_GROUPS: 'always' },
      /^Error: MCEVAL_WEBGPU_GROUPS=always is not a choice mceval has: use auto or never, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_ACTIVATIONS: 'fused' },
      /^Error: MCEVAL_WEBGPU_ACTIVATIONS=fused is not a choice mceval has: use inside or apart, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_ROPE: 'fused' },
      /^Error: MCEVAL_WEBGPU_ROPE=fused is not a choice mceval has: use inside or apart, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_FEW_ROWS: 'all' },
      /^Error: MCEVAL_WEBGPU_FEW_ROWS=all is not a number of rows: use 0 \(never\), a row count, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_ATTENTION_LANES: '3' },
      /^Error: MCEVAL_WEBGPU_ATTENTION_LANES=3 is not a lane count mceval has: use 1, 2, 4, 8, 16, 32 or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_LIMITS: 'minimum' },
      /^Error: MCEVAL_WEBGPU_LIMITS=minimum is not a choice mceval has: use adapter or default, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_ROBUSTNESS: 'none' },
      /^Error: MCEVAL_WEBGPU_ROBUSTNESS=none is not a choice mceval has: use on or off, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_SUBMIT_BATCH: '1.5' },
      /^Error: MCEVAL_WEBGPU_SUBMIT_BATCH=1\.5 is not a count of dispatches per submit: use a whole number from 1, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_WAIT: 'often' },
      /^Error: MCEVAL_WEBGPU_WAIT=often is not a way to wait: use spin, sleep, a number of milliseconds to spin before sleeping, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_OVERLAP: 'yes' },
      /^Error: MCEVAL_WEBGPU_OVERLAP=yes is not a choice mceval has: use on or off, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_REPLAY: 'yes' },
      /^Error: MCEVAL_WEBGPU_REPLAY=yes is not a choice mceval has: use off or on, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_POOL: '0' },
      /^Error: MCEVAL_WEBGPU_POOL=0 is not a pool mceval keeps: use a number of reads \(a whole number from 1\) over which a buffer size unused is given back, keep, or unset it\.\n$/,
    ],
    [
      { MCEVAL_WEBGPU_MATMUL_THRESHOLD: '0' },
      /^Error: MCEVAL_WEBGPU_MATMUL_THRESHOLD=0 is not a count of output tiles: use a whole number from 1, or unset it\.\n$/,
    ],
  ];
  for (const [env, expected] of cases) {
    const out = tempDir();
    try {
      const { code, stdout, stderr } = mceval(['run', '--task', 'demo-arith', '--adapter', 'lora', '--out', out], env);
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.match(stderr, expected);
      assert.ok(!existsSync(join(out, 'mceval.sqlite')));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
});

test('a run trains each grid point, prints the table, writes both CSV files; threads do not change the numbers', () => {
  const sequential = tempDir();
  const parallel = tempDir();
  try {
    const args = [
      'run',
      '--task',
      'demo-sentiment',
      '--adapter',
      'lora',
      '--grid',
      'lr=0.003,0.01',
      '--grid',
      'bs=64',
      '--epochs',
      '1',
    ];
    const first = mceval([...args, '--jobs', '1', '--out', sequential]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /median acc[\s\S]*demo-sentiment[\s\S]*lora/);
    assert.match(first.stderr, /run 2\/2 demo-sentiment\/lora lr=0\.01 bs=64: accuracy/);
    const results = readFileSync(join(sequential, 'results.csv'), 'utf8');
    assert.equal(results.trim().split('\n').length, 3);
    assert.match(
      results,
      /^task,adapter,method,model,backend,seed,lr,batch_size,epochs,.*accuracy,nll,.*lora_r,lora_alpha/,
    );
    // One folder per run in the store, named by plan position, task, adapter, grid point and key.
    const runs = readdirSync(join(sequential, 'runs')).sort();
    assert.deepEqual(
      runs.map((name) => name.replace(/-[0-9a-f]{8}$/, '')),
      ['001-demo-sentiment-lora-lr0.003-bs64', '002-demo-sentiment-lora-lr0.01-bs64'],
    );
    const lines = readFileSync(join(sequential, 'runs', runs[0]!, 'steps.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(lines.length, 25); // 1,600 examples / 64 per batch, one epoch
    assert.deepEqual(Object.keys(lines[0]), ['epoch', 'step', 'lr', 'loss', 'grad_norm']);
    const summary = readFileSync(join(sequential, 'summary.csv'), 'utf8').trim().split('\n');
    assert.equal(summary.length, 2);
    assert.match(
      summary[0]!,
      /best_accuracy,median_accuracy,worst_accuracy,spread_accuracy,median_nll,extrinsic_robustness,intrinsic_robustness/,
    );

    const second = mceval([...args, '--jobs', '2', '--out', parallel, '--json']);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr, '', 'with --json only the JSON result is printed');
    const json = JSON.parse(second.stdout);
    assert.equal(json.runs.length, 2);
    assert.deepEqual(metricColumns(readFileSync(join(parallel, 'results.csv'), 'utf8')), metricColumns(results));
  } finally {
    rmSync(sequential, { recursive: true, force: true });
    rmSync(parallel, { recursive: true, force: true });
  }
});

test('bad input: one line naming the problem and the fix, non-zero exit, no results written', () => {
  const out = tempDir();
  try {
    const cases: [string[], RegExp][] = [
      [
        ['--task', 'nope', '--adapter', 'lora'],
        /^Error: Unknown task "nope": use one of demo-sentiment, demo-arith, .*, or a group \(glue, superglue, commonsense\)\.\n$/,
      ],
      [
        ['--task', 'demo-sentiment', '--adapter', 'lorax'],
        /^Error: Unknown adapter "lorax" \(did you mean lora\?\): use one of adalora, dora, full, ia3, lora, loraplus, monteclora, monteclora-reference, none, prompt-tuning, or a path to a preset \.json file\.\n$/,
      ],
      [
        ['--task', 'demo-sentiment', '--adapter', 'lora', '--grid', 'lr:1e-3'],
        /^Error: Malformed --grid "lr:1e-3": expected NAME=V1,V2,\.\.\. with NAME lr or bs/,
      ],
      [
        ['--task', 'demo-sentiment', '--adapter', 'lora', '--model', 'builtin:huge'],
        /^Error: Unknown builtin model "builtin:huge": use one of builtin:tiny, builtin:small, builtin:medium\.\n$/,
      ],
      [
        ['--task', 'demo-sentiment', '--adapter', 'lora', '--backend', 'gpu'],
        /^Error: Expected --backend=gpu to be one of: auto, tensorflow, webgpu, wasm, cpu/,
      ],
      [
        ['--task', 'demo-sentiment', '--adapter', 'lora', '--backend', 'wsm'],
        /^Error: Expected --backend=wsm \(did you mean wasm\?\) to be one of: auto, tensorflow, webgpu, wasm, cpu\n$/,
      ],
      [
        ['--task', 'demo-sentiment', '--adapter', 'lora', '--save-adapters', 'bets'],
        /^Error: Expected --save-adapters=bets \(did you mean best\?\) to be one of: none, best, all\n$/,
      ],
    ];
    for (const [args, expected] of cases) {
      const { code, stdout, stderr } = mceval(['run', ...args, '--out', out]);
      assert.notEqual(code, 0, args.join(' '));
      assert.match(stderr, expected);
      assert.equal(stderr.trim().split('\n').length, 1, `more than one line for ${args.join(' ')}: ${stderr}`);
      assert.doesNotMatch(stderr, /\s+at /, 'no stack trace');
      assert.equal(stdout, '');
    }
    assert.ok(!existsSync(join(out, 'results.csv')));
    // Refused after --out was made (its data, its model, its backend): the folders made for it go again.
    const refusedLate: [string[], RegExp][] = [
      [['--task', 'rte', '--data', join(out, 'no-data')], /^Error: Task rte: data file not found at /],
      [['--task', 'demo-sentiment', '--model', out], /config\.json/],
      [['--task', 'demo-sentiment', '--backend', 'tensorflow'], /^Error: No usable backend for --backend tensorflow/],
    ];
    for (const [args, expected] of refusedLate) {
      const { code, stderr } = mceval(['run', ...args, '--adapter', 'lora', '--out', join(out, 'new', 'sub')]);
      assert.notEqual(code, 0, args.join(' '));
      assert.match(stderr, expected);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.ok(!existsSync(join(out, 'new')), `--out left behind by ${args.join(' ')}`);
    }
    const blocker = join(out, 'a-file');
    writeFileSync(blocker, '');
    const unwritable = mceval(['run', '--task', 'demo-sentiment', '--adapter', 'lora', '--out', join(blocker, 'sub')]);
    assert.notEqual(unwritable.code, 0);
    assert.match(
      unwritable.stderr,
      /^Error: Cannot write results to --out .*a-file\/sub \(not a directory.*\): choose a writable folder\.\n$/,
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('tune refuses bad input with one line before it opens a GPU, and writes no tuning file', () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'tuning.json');
    const cases: [string[], Record<string, string>, RegExp][] = [
      [
        ['--adapter', 'none'],
        {},
        /^Error: --adapter none trains nothing: tune times a training step; name one that trains\.\n$/,
      ],
      [['--adapter', 'lorax'], {}, /^Error: Unknown adapter "lorax" \(did you mean lora\?\)/],
      [
        ['--setting', 'MCEVAL_WEBGPU_POOL'],
        {},
        /^Error: Expected --setting=MCEVAL_WEBGPU_POOL (\(did you mean \w+\?\) )?to be one of: MCEVAL_WEBGPU_PRODUCT_TILE, /,
      ],
      [['--margin', '2'], {}, /^Error: --margin must be/],
      [
        [],
        { MCEVAL_WEBGPU_TUNING: 'off' },
        /^Error: MCEVAL_WEBGPU_TUNING=off leaves nowhere to write the tuning: unset it or name a file\.\n$/,
      ],
    ];
    for (const [args, env, expected] of cases) {
      const { code, stdout, stderr } = mceval(['tune', ...args], { MCEVAL_WEBGPU_TUNING: file, ...env });
      assert.notEqual(code, 0, args.join(' '));
      assert.match(stderr, expected);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.equal(stdout, '');
    }
    assert.ok(!existsSync(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a preset with an unknown key is rejected, naming the key', () => {
  const dir = tempDir();
  try {
    const preset = join(dir, 'mine.json');
    writeFileSync(
      preset,
      JSON.stringify({ method: 'lora', adapter: { r: 4, rank: 8 }, grid: { lr: [0.001], bs: [8] } }),
    );
    const { code, stderr } = mceval(['run', '--task', 'demo-sentiment', '--adapter', preset, '--out', dir]);
    assert.notEqual(code, 0);
    assert.match(
      stderr,
      /^Error: Unknown key "rank" in the "adapter" section of .*mine\.json: allowed keys are r, alpha, dropout, targetModules, useRslora, loraplusLrRatio, useDora\.\n$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failure inside a worker thread stops the sweep with one error line and writes nothing', () => {
  const dir = tempDir();
  try {
    const preset = join(dir, 'bad-target.json');
    writeFileSync(
      preset,
      JSON.stringify({ method: 'lora', adapter: { targetModules: ['query'] }, grid: { lr: [0.001, 0.002], bs: [8] } }),
    );
    const out = join(dir, 'out');
    const { code, stderr } = mceval([
      'run',
      '--task',
      'demo-sentiment',
      '--adapter',
      preset,
      '--jobs',
      '2',
      '--out',
      out,
    ]);
    assert.equal(code, 2);
    assert.match(stderr.trim().split('\n').at(-1)!, /^Error: Target modules not found in the model: query\./);
    assert.ok(!existsSync(join(out, 'results.csv')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('generation flags: greedy sampling of several completions and bad numbers are one-line errors', () => {
  const out = tempDir();
  try {
    const greedy = mceval(['run', '--task', 'demo-code', '--adapter', 'lora', '--samples', '4', '--out', out]);
    assert.equal(greedy.code, 2);
    assert.equal(
      greedy.stderr,
      'Error: --samples 4 with greedy decoding would draw the same completion 4 times: add --temperature (e.g. 0.8).\n',
    );
    const bad = mceval(['run', '--task', 'demo-code', '--adapter', 'lora', '--top-p', '1.5', '--out', out]);
    assert.equal(bad.stderr, 'Error: --top-p must be a number from 0 to 1, not "1.5".\n');
    assert.deepEqual(readdirSync(out), []);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
