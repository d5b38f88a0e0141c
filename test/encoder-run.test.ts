/**
 * BERT and RoBERTa through `mceval run`: fine-tuned on a sentence-pair task with the decoder presets (their targets
 * read as the encoder's modules), saved in PEFT's and transformers' layouts and scored again from the files alone;
 * refused in one line where a task or method needs a decoder; trained with gradients that match finite differences and
 * with micro-batches that give the whole batch's step. Every encoder here is made by test/tiny-encoder.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, type Scalar, type Variable } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadAnyModel } from '../src/models/load.js';
import { loadEncoderFolder } from '../src/models/hf/load-folder.js';
import { EncoderModel } from '../src/models/encoder/model.js';
import { BaseModelCache } from '../src/models/base-model-cache.js';
import { encodeSafetensors, SafetensorsFile } from '../src/models/safetensors.js';
import { randomWeightInit } from '../src/models/init.js';
import { padInputs } from '../src/models/tokenizers/padding.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { loadLoraAdapter } from '../src/peft/lora/peft-format.js';
import { loadPromptTuningAdapter } from '../src/peft/prompt-tuning/peft-format.js';
import { promptTuningMethod } from '../src/peft/prompt-tuning/index.js';
import type { TextTokenizer } from '../src/models/tokenizers/tokenizer.js';
import type { AppliedAdapter } from '../src/peft/types.js';
import { loraMethod } from '../src/peft/lora/index.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { ia3Method } from '../src/peft/ia3/index.js';
import { adapterConfigFor } from '../src/peft/target-aliases.js';
import { loadPreset } from '../src/peft/preset.js';
import { getTask } from '../src/tasks/registry.js';
import { loadTask, RUNNERS } from '../src/runners/index.js';
import { classificationLoss } from '../src/train/loss.js';
import { loadModel } from '../src/models/load.js';
import { HfTokenizer } from '../src/models/tokenizers/hf-tokenizer.js';
import { fineTuneAdapterAndHead, maxAbsDifference, mceval, useTestBackend } from './helpers.js';
import {
  encoderPairExamples,
  tinyEncoder,
  tinyEncoderConfig,
  writePairData,
  writeTinyEncoderFolder,
} from './tiny-encoder.js';
import { encoderConfigJson } from '../src/models/hf/save-folder.js';
import { parseEncoderConfig } from '../src/models/encoder/config.js';

const root = mkdtempSync(join(tmpdir(), 'mceval-encoder-'));
const data = join(root, 'data');
const folders = { bert: join(root, 'bert'), roberta: join(root, 'roberta') };

before(async () => {
  await useTestBackend();
  writePairData(data);
  writeTinyEncoderFolder(folders.bert, 'bert', 11);
  writeTinyEncoderFolder(folders.roberta, 'roberta', 12);
});
after(() => rmSync(root, { recursive: true, force: true }));

function runArgs(model: string, adapter: string, out: string): string[] {
  return [
    'run',
    '--task',
    'rte',
    '--adapter',
    adapter,
    '--model',
    model,
    '--data',
    data,
    '--grid',
    'lr=0.01',
    '--grid',
    'bs=8',
    '--epochs',
    '2',
    '--out',
    out,
    '--quiet',
  ];
}

/** The one run's folder under `out`, and its metrics. */
function onlyRun(out: string): { dir: string; metrics: { accuracy: number; nll: number } } {
  const [folder] = readdirSync(join(out, 'runs'));
  const dir = join(out, 'runs', folder!);
  return { dir, metrics: JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) };
}

/** Copies transformers-layout head tensors (task_head.safetensors) into the model's head. */
function assignHead(model: EncoderModel, path: string): void {
  const file = SafetensorsFile.open(path);
  try {
    tf.tidy(() => {
      for (const { name, variable, isLinearWeight } of model.headParameters()) {
        const { shape, values } = file.read(name);
        const stored = tf.tensor(values, [...shape]);
        variable.assign(isLinearWeight ? tf.transpose(stored) : stored);
      }
    });
  } finally {
    file.close();
  }
}

async function scoreRte(model: EncoderModel, dir: string) {
  const loaded = await loadTask(getTask('rte'), data);
  if (loaded.kind !== 'classification') throw new Error('rte is a classification task');
  const { tokenizer } = loadAnyModel(dir);
  return RUNNERS.classification.metrics(
    await RUNNERS.classification.evaluate(model, tokenizer, loaded.task, loaded.data, {}),
  );
}

/** The classification head's tensors under transformers' names. */
const headNames = (family: 'bert' | 'roberta') =>
  family === 'bert'
    ? ['classifier.bias', 'classifier.weight']
    : ['classifier.dense.bias', 'classifier.dense.weight', 'classifier.out_proj.bias', 'classifier.out_proj.weight'];

/**
 * The CLI run of `adapter` on `family`'s checkpoint into root/`name` (it must succeed): its metrics, its saved adapter
 * folder and that folder's adapter_config.json.
 */
function runWithAdapter(family: 'bert' | 'roberta', adapter: string, name: string) {
  const out = join(root, name);
  const result = mceval(runArgs(folders[family], adapter, out));
  assert.equal(result.code, 0, result.stderr);
  const { dir, metrics } = onlyRun(out);
  const adapterDir = join(dir, 'adapter');
  const config = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8'));
  return { metrics, adapterDir, config };
}

/** The base checkpoint, the run's saved head and its saved adapter alone give the run's scores. */
async function assertFilesScoreTheRun(
  family: 'bert' | 'roberta',
  adapterDir: string,
  metrics: { accuracy: number; nll: number },
  loadAdapter: (model: EncoderModel, dir: string) => { adapter: AppliedAdapter },
): Promise<void> {
  const model = loadEncoderFolder(folders[family], { withCheckpointHead: false });
  model.addClassificationHead(2, (_name, shape) => tf.zeros(shape));
  assignHead(model, join(adapterDir, 'task_head.safetensors'));
  const { adapter } = loadAdapter(model, adapterDir);
  try {
    const scores = await scoreRte(model, folders[family]);
    assert.equal(scores.accuracy, metrics.accuracy);
    assert.ok(Math.abs(scores.nll - metrics.nll) < 1e-6, `${scores.nll} vs ${metrics.nll}`);
  } finally {
    adapter.dispose();
    model.dispose();
  }
}

for (const family of ['bert', 'roberta'] as const) {
  test(`${family}: LoRA fine-tunes on sentence pairs; PEFT's files under the encoder's module names score what the run scored`, async () => {
    const { metrics, adapterDir, config } = runWithAdapter(family, 'lora', `lora-${family}`);
    // The preset's q_proj … down_proj, as this encoder names them (its feed-forward output named per layer).
    assert.deepEqual(config.target_modules, [
      'query',
      'key',
      'value',
      'attention.output.dense',
      'intermediate.dense',
      `${family}.encoder.layer.0.output.dense`,
      `${family}.encoder.layer.1.output.dense`,
    ]);
    // As PEFT saves a sequence classifier: the head is a module to save, its tensors beside LoRA's.
    assert.equal(config.task_type, 'SEQ_CLS');
    assert.deepEqual(config.modules_to_save, ['classifier']);
    const file = SafetensorsFile.open(join(adapterDir, 'adapter_model.safetensors'));
    const allNames = [...file.tensors.keys()];
    const isHead = (name: string) => name.startsWith('base_model.model.classifier.');
    const headInAdapter = Object.fromEntries(
      allNames
        .filter(isHead)
        .map((name) => [name.slice('base_model.model.'.length), Array.from(file.read(name).values)]),
    );
    file.close();
    const names = allNames.filter((name) => !isHead(name));
    assert.equal(names.length, 2 * 6 * 2, names.join(' '));
    const module =
      /(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|\d\.output\.dense)/;
    for (const name of names) {
      assert.match(name, new RegExp(`^base_model\\.model\\.${family}\\.encoder\\.layer\\.\\d\\.`));
      assert.match(name, module);
      assert.match(name, /\.lora_[AB]\.weight$/);
    }
    const head = SafetensorsFile.open(join(adapterDir, 'task_head.safetensors'));
    const savedHead = [...head.tensors.keys()].sort();
    assert.deepEqual(Object.keys(headInAdapter).sort(), savedHead);
    for (const name of savedHead) assert.deepEqual(headInAdapter[name], Array.from(head.read(name).values), name);
    head.close();
    assert.deepEqual(savedHead, headNames(family));
    await assertFilesScoreTheRun(family, adapterDir, metrics, loadLoraAdapter);
  });
}

for (const family of ['bert', 'roberta'] as const) {
  test(`${family}: prompt tuning saves PEFT's SEQ_CLS prompt adapter, which with the base checkpoint scores what the run scored`, async () => {
    const { metrics, adapterDir, config } = runWithAdapter(family, 'prompt-tuning', `prompt-${family}`);
    assert.equal(config.peft_type, 'PROMPT_TUNING');
    assert.equal(config.task_type, 'SEQ_CLS');
    assert.deepEqual(config.modules_to_save, ['classifier']);
    assert.equal(config.token_dim, 16);
    const file = SafetensorsFile.open(join(adapterDir, 'adapter_model.safetensors'));
    const names = [...file.tensors.keys()].sort();
    file.close();
    // Prompt learning wraps the model once: the head's keys carry base_model. only.
    assert.deepEqual(names, [...headNames(family).map((name) => `base_model.${name}`), 'prompt_embeddings']);
    await assertFilesScoreTheRun(family, adapterDir, metrics, loadPromptTuningAdapter);
  });

  test(`${family}: a soft prompt reads as the same embeddings given as leading tokens would (positions, token type 0, attended), and the head reads its first virtual token`, () => {
    const before = tf.memory().numTensors;
    const model = tinyEncoder(family, { seed: 9, dropout: 0 });
    const lead = [30, 41, 52];
    const rows = encoderPairExamples(3);
    const pad = model.config.padTokenId;
    const logits = (batch: ReturnType<typeof padInputs>) =>
      tf.tidy(() => Array.from(model.classify(batch, EVAL_CONTEXT).dataSync()));
    // The text init copies the embedding rows of the text's ids: these three.
    const tokenizer = { encode: () => lead } as unknown as TextTokenizer;
    const config = { numVirtualTokens: 3, init: 'text' as const, initText: 'lead' };
    const positions = model.maxSequenceLength;
    const adapter = promptTuningMethod.apply(model, config, new Rng(1), tokenizer);
    try {
      assert.equal(model.maxSequenceLength, positions - 3, 'the prompt takes positions from the input');
      const prompted = logits(padInputs(rows, pad));
      adapter.dispose();
      const leading = rows.map((row) => ({
        ids: [...lead, ...row.ids],
        tokenTypeIds: [0, 0, 0, ...row.tokenTypeIds!],
        label: row.label,
      }));
      const plain = logits(padInputs(leading, pad));
      assert.ok(maxAbsDifference(prompted, plain) < 1e-5, `${prompted} vs ${plain}`);
    } finally {
      model.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
  });
}

test('full fine-tuning of an encoder saves a transformers classifier folder that scores what the run scored', async () => {
  const out = join(root, 'full');
  const result = mceval([...runArgs(folders.roberta, 'full', out), '--save-adapters', 'all']);
  assert.equal(result.code, 0, result.stderr);
  const { dir, metrics } = onlyRun(out);
  const saved = join(dir, 'adapter');
  assert.deepEqual(readdirSync(saved).sort(), ['config.json', 'model.safetensors']);
  const config = JSON.parse(readFileSync(join(saved, 'config.json'), 'utf8'));
  assert.deepEqual(config.architectures, ['RobertaForSequenceClassification']);
  assert.equal(Object.keys(config.id2label).length, 2);
  const model = loadEncoderFolder(saved);
  try {
    const scores = await scoreRte(model, folders.roberta);
    assert.equal(scores.accuracy, metrics.accuracy);
    assert.ok(Math.abs(scores.nll - metrics.nll) < 1e-6, `${scores.nll} vs ${metrics.nll}`);
  } finally {
    model.dispose();
  }
});

test('an encoder is refused in one line, before any run, for a generation task and for generate', () => {
  for (const [args, expected] of [
    [
      ['run', '--task', 'gsm8k', '--adapter', 'lora', '--model', folders.bert],
      /is an encoder.*gsm8k is a generation task/,
    ],
    [
      ['generate', '--model', folders.roberta, '--prompt', 'hi'],
      /is a roberta encoder: .*generation and scoring need a llama/,
    ],
  ] as const) {
    const out = join(root, 'refused');
    const result = mceval([...args, ...(args[0] === 'run' ? ['--data', data, '--out', out] : [])]);
    assert.notEqual(result.code, 0);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, expected);
    assert.ok(!existsSync(join(out, 'mceval.sqlite')), 'a refused run left a store behind');
  }
  assert.throws(() => loadModel(folders.bert), /is a bert encoder/);
});

test("the decoder presets' targets read as an encoder's modules; IA3's feed-forward scaling lands on the FFN output only", () => {
  const model = tinyEncoder('bert');
  try {
    const lora = loadPreset('lora').adapterConfig as { targetModules: string[] };
    assert.deepEqual(adapterConfigFor(model, lora).targetModules, [
      'query',
      'key',
      'value',
      'attention.output.dense',
      'intermediate.dense',
      'bert.encoder.layer.0.output.dense',
      'bert.encoder.layer.1.output.dense',
    ]);
    // A preset already in the encoder's names is unchanged.
    const own = { targetModules: ['query', 'value'] };
    assert.deepEqual(adapterConfigFor(model, own).targetModules, ['query', 'value']);
    const ia3Config = adapterConfigFor(model, loadPreset('ia3').adapterConfig) as never;
    const adapter = ia3Method.apply(model, ia3Config, new Rng(0));
    try {
      const adapted = model.linears().filter((linear) => linear.adapter !== undefined);
      assert.deepEqual(
        adapted.map((linear) => linear.name.replace(/^bert\.encoder\.layer\.\d\./, '')),
        [
          'attention.self.key',
          'attention.self.value',
          'output.dense',
          'attention.self.key',
          'attention.self.value',
          'output.dense',
        ],
      );
      // Feed-forward layers scale their input (width 32), the others their output (16).
      assert.deepEqual(
        adapter.groups[0]!.variables.map((v) => v.shape[0]),
        [16, 16, 32, 16, 16, 32],
      );
    } finally {
      adapter.dispose();
    }
  } finally {
    model.dispose();
  }
});

test('a decoder preset on a llama model is read unchanged', async () => {
  const { model } = loadModel('builtin:tiny');
  try {
    const config = loadPreset('lora').adapterConfig;
    assert.equal(adapterConfigFor(model, config), config);
  } finally {
    model.dispose();
  }
});

test("an encoder's classification gradients (LoRA B, head, through GELU, LayerNorm and token types) match central differences", () => {
  const model = tinyEncoder('bert', { seed: 5, std: 0.3 });
  const adapter = loraMethod.apply(
    model,
    parseLoraConfig({ r: 2, alpha: 4, dropout: 0, targetModules: ['value', 'intermediate.dense'] }, 'test'),
    new Rng(6),
  );
  try {
    // B starts at zero (PEFT's init): every adapter weight is redrawn so that A's gradient is not zero either.
    tf.tidy(() =>
      adapter.groups
        .flatMap((g) => g.variables)
        .forEach((v, i) => v.assign(tf.randomNormal(v.shape, 0, 0.3, 'float32', 9 + i))),
    );
    const rows = encoderPairExamples(3);
    const batch = padInputs(rows, model.config.padTokenId);
    const labels = rows.map((row) => row.label);
    const loss = () => classificationLoss(model.classify(batch, EVAL_CONTEXT), labels) as Scalar;
    const checked: Variable[] = [...adapter.groups.flatMap((g) => g.variables), ...model.headVariables()];
    const before = tf.memory().numTensors;
    const { grads } = tf.tidy(() => {
      const result = tf.variableGrads(loss, checked);
      return { grads: Object.fromEntries(Object.entries(result.grads).map(([k, g]) => [k, tf.keep(g)])) };
    });
    for (const variable of checked) {
      const analytic = grads[variable.name]!.dataSync();
      const values = variable.dataSync().slice();
      // Three entries per variable, float64 central differences of the float32 loss.
      for (const index of [0, Math.floor(values.length / 2), values.length - 1]) {
        const at = (delta: number) => {
          const shifted = values.slice();
          shifted[index] = values[index]! + delta;
          tf.tidy(() => variable.assign(tf.tensor(shifted, variable.shape)));
          return tf.tidy(() => loss().dataSync()[0]!);
        };
        const h = 1e-2;
        const numeric = (at(h) - at(-h)) / (2 * h);
        tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
        assert.ok(
          Math.abs(numeric - analytic[index]!) <= 2e-3 + 2e-2 * Math.abs(numeric),
          `${variable.name}[${index}]: analytic ${analytic[index]}, numeric ${numeric}`,
        );
      }
    }
    Object.values(grads).forEach((g) => g.dispose());
    assert.equal(tf.memory().numTensors, before);
  } finally {
    adapter.dispose();
    model.dispose();
  }
});

test('an encoder trains the same with two micro-batches as with the whole batch, and releases every tensor', async () => {
  const run = async (gradientAccumulation: number) => {
    const model = tinyEncoder('bert', { seed: 8, dropout: 0 });
    const adapter = loraMethod.apply(
      model,
      parseLoraConfig({ r: 2, alpha: 4, dropout: 0, targetModules: ['query', 'value'] }, 'test'),
      new Rng(6),
    );
    const before = tf.memory().numTensors;
    try {
      const result = await fineTuneAdapterAndHead(model, adapter, encoderPairExamples(8), gradientAccumulation);
      assert.equal(tf.memory().numTensors, before, 'a tensor outlived the training');
      const weights = adapter.groups.flatMap((g) => g.variables).flatMap((v) => Array.from(v.dataSync()));
      return { losses: result.log.map((entry) => entry.loss), weights };
    } finally {
      adapter.dispose();
      model.dispose();
    }
  };
  const whole = await run(1);
  const split = await run(2);
  assert.equal(whole.losses.length, 4);
  whole.losses.forEach((loss, i) => assert.ok(Math.abs(loss - split.losses[i]!) < 1e-5, `step ${i}`));
  whole.weights.forEach((w, i) => assert.ok(Math.abs(w - split.weights[i]!) < 1e-4, `weight ${i}`));
});

test("a sweep's base-model cache rebuilds an encoder with the weights it first read", () => {
  const cache = new BaseModelCache();
  const before = tf.memory().numTensors;
  const first = loadAnyModel(folders.roberta, cache).model;
  const second = loadAnyModel(folders.roberta, cache).model;
  try {
    assert.ok(second instanceof EncoderModel);
    const a = first.variables().map((v) => Array.from(v.dataSync()));
    const b = second.variables().map((v) => Array.from(v.dataSync()));
    assert.deepEqual(b, a);
  } finally {
    first.dispose();
    second.dispose();
    cache.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});

/** The tiny BERT's checkpoint rewritten by `rename` (a name, or undefined to leave the tensor out) into a new folder. */
function respelled(name: string, rename: (tensor: string) => string | undefined): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(folders.bert, 'config.json'), join(dir, 'config.json'));
  const file = SafetensorsFile.open(join(folders.bert, 'model.safetensors'));
  const tensors: Record<string, { shape: readonly number[]; values: Float32Array }> = {};
  for (const tensor of file.tensors.keys()) {
    const renamed = rename(tensor);
    if (renamed !== undefined) tensors[renamed] = file.read(tensor);
  }
  file.close();
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
  return dir;
}

test('encoder checkpoints load in each spelling transformers reads: bare BertModel names, LayerNorm gamma/beta, no pooler', () => {
  const rows = encoderPairExamples(4);
  const logitsOf = (dir: string) => {
    const model = loadEncoderFolder(dir, { withCheckpointHead: false });
    try {
      model.addClassificationHead(2, randomWeightInit(new Rng(3), 0.2));
      return tf.tidy(() => Array.from(model.classify(padInputs(rows, 0), EVAL_CONTEXT).dataSync()));
    } finally {
      model.dispose();
    }
  };
  const original = logitsOf(folders.bert);
  const bare = respelled('bare', (tensor) => tensor.replace(/^bert\./, ''));
  const legacy = respelled('legacy', (tensor) =>
    tensor.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'),
  );
  assert.deepEqual(logitsOf(bare), original);
  assert.deepEqual(logitsOf(legacy), original);
  const noPooler = respelled('no-pooler', (tensor) => (tensor.startsWith('bert.pooler.') ? undefined : tensor));
  const drawn = logitsOf(noPooler);
  assert.notDeepEqual(drawn, original);
  assert.deepEqual(logitsOf(noPooler), drawn, 'a missing pooler is drawn from a fixed seed');
  // Any other missing tensor is one line naming it.
  const noQuery = respelled('no-query', (tensor) =>
    tensor.includes('layer.1.attention.self.query.weight') ? undefined : tensor,
  );
  assert.throws(
    () => loadEncoderFolder(noQuery, { withCheckpointHead: false }),
    /no tensor "bert\.encoder\.layer\.1\.attention\.self\.query\.weight"/,
  );
});

test("a BERT reads a pair's second text as token type 1, and every token sees the tokens after it", async () => {
  const { model, tokenizer } = loadAnyModel(folders.bert);
  const loaded = await loadTask(getTask('rte'), data);
  if (loaded.kind !== 'classification' || !(model instanceof EncoderModel)) throw new Error('a BERT on rte');
  try {
    const [example] = RUNNERS.classification.encodeTraining(tokenizer, loaded.task, loaded.data, model);
    const { ids, tokenTypeIds } = example!;
    // [CLS] sentence [SEP] hypothesis [SEP]: type 0 up to the first [SEP], type 1 after it.
    const firstSep = ids.indexOf(3);
    assert.equal(ids[0], 2);
    assert.deepEqual(
      tokenTypeIds,
      ids.map((_, t) => (t <= firstSep ? 0 : 1)),
    );
    const batch = padInputs([example!], 0);
    const { tokenTypeIds: _types, ...untyped } = batch;
    const first = (input: typeof batch) =>
      tf.tidy(() => Array.from(tf.slice(model.hiddenStates(input, EVAL_CONTEXT), [0, 0, 0], [1, 1, -1]).dataSync()));
    assert.notDeepEqual(first(batch), first(untyped), 'token types change nothing');
    // Bidirectional: changing the last token moves the first token's state (a causal model's would not move).
    const changed = { ...batch, ids: batch.ids.map((id, t) => (t === batch.length - 2 ? 40 : id)) };
    assert.notDeepEqual(first(changed), first(batch));
  } finally {
    model.dispose();
  }
});

test("an encoder drops out in training as transformers' modules do (hidden, attention probabilities, classifier), seeded; not in evaluation", () => {
  const rows = encoderPairExamples(4);
  const batch = padInputs(rows, 0);
  const logits = (dropout: number, training: boolean, attentionDropout = dropout) => {
    const model = tinyEncoder('bert', { seed: 4, dropout, attentionDropout });
    try {
      const context = training ? { training, rng: new Rng(3) } : EVAL_CONTEXT;
      return tf.tidy(() => Array.from(model.classify(batch, context).dataSync()));
    } finally {
      model.dispose();
    }
  };
  const evaluated = logits(0.1, false);
  assert.deepEqual(logits(0.1, true), logits(0.1, true), 'the same seed drops the same units');
  assert.notDeepEqual(logits(0.1, true), evaluated);
  assert.deepEqual(logits(0, true), evaluated, 'with no dropout, training computes what evaluation does');
  // attention_probs_dropout_prob alone: the probabilities are dropped in training (seeded), not in evaluation.
  assert.deepEqual(logits(0, false, 0.3), evaluated);
  assert.deepEqual(logits(0, true, 0.3), logits(0, true, 0.3));
  assert.notDeepEqual(logits(0, true, 0.3), evaluated, 'attention-probability dropout changes nothing in training');
});

test('attention_probs_dropout_prob is read (0.1 when absent, as transformers) and written back', () => {
  const json = encoderConfigJson({ ...tinyEncoderConfig('roberta'), attentionDropout: 0.25 }, 2);
  assert.equal(json['attention_probs_dropout_prob'], 0.25);
  assert.equal(parseEncoderConfig(json, 'config.json').attentionDropout, 0.25);
  const { attention_probs_dropout_prob: _dropped, ...without } = json;
  assert.equal(parseEncoderConfig(without, 'config.json').attentionDropout, 0.1);
});

test('a BERT folder with vocab.txt and no tokenizer.json tokenizes as its fast tokenizer does, and runs', () => {
  const dir = join(root, 'vocab-only');
  mkdirSync(dir, { recursive: true });
  for (const file of ['config.json', 'model.safetensors', 'tokenizer_config.json'])
    copyFileSync(join(folders.bert, file), join(dir, file));
  const fast = JSON.parse(readFileSync(join(folders.bert, 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number> };
  };
  const vocab = Object.entries(fast.model.vocab).sort((a, b) => a[1] - b[1]);
  writeFileSync(join(dir, 'vocab.txt'), `${vocab.map(([token]) => token).join('\n')}\n`);
  const [fromVocab, fromJson] = [dir, folders.bert].map((folder) => HfTokenizer.fromFolder(folder));
  for (const [text, pair] of [
    ['The red cat sat.', 'A dog ran far!'],
    ["It's 42 o'clock, Über-cool", undefined],
  ] as const) {
    assert.deepEqual(fromVocab!.encodeTruncated(text, pair, 40), fromJson!.encodeTruncated(text, pair, 40), text);
  }
  const result = mceval(runArgs(dir, 'lora', join(root, 'vocab-run')));
  assert.equal(result.code, 0, result.stderr);
});
