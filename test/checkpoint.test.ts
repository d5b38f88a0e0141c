/** Reading checkpoints: safetensors parsing, dtypes, and one-line errors for every broken input. */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { encodeSafetensors, halfToFloat, SafetensorsFile, toFloat32 } from '../src/models/safetensors.js';
import { loadLlamaFolder } from '../src/models/hf/load-folder.js';
import { parseLlamaConfig } from '../src/models/hf/llama-config.js';
import { llama3Frequencies, ropeInverseFrequencies } from '../src/models/layers/rope.js';
import { Rng } from '../src/engine/rng.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { padBatch } from '../src/models/tokenizers/padding.js';
import { loadModel, validateModelSpec } from '../src/models/load.js';
import { HfTokenizer } from '../src/models/tokenizers/hf-tokenizer.js';
import { useTestBackend } from './helpers.js';
import { LlamaModel } from '../src/models/llama/model.js';
import { llamaConfigJson } from '../src/models/hf/save-folder.js';
import { randomWeightInit } from '../src/models/init.js';

before(useTestBackend);

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mceval-ckpt-'));
}

test('safetensors round trip: header padded to 8 bytes, tensors sorted by name', () => {
  const bytes = encodeSafetensors({
    b: { shape: [2], values: new Float32Array([3, 4]) },
    a: { shape: [1, 2], values: new Float32Array([1, 2]) },
  });
  assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0);
  const dir = tempDir();
  try {
    writeFileSync(join(dir, 'x.safetensors'), bytes);
    const file = SafetensorsFile.open(join(dir, 'x.safetensors'));
    assert.deepEqual([...file.tensors.keys()], ['a', 'b']);
    assert.deepEqual(Array.from(file.read('b').values), [3, 4]);
    assert.deepEqual(file.read('a').shape, [1, 2]);
    file.close();
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('F16 and BF16 convert exactly (hand-computed bit patterns)', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x3555), 0.333251953125);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  const bf16 = Buffer.from([0x80, 0x3f, 0x49, 0x40]); // 0x3f80 = 1.0, 0x4049 = 3.140625
  assert.deepEqual(Array.from(toFloat32(bf16, 'BF16')), [1, 3.140625]);
});

/** A one-layer Llama checkpoint folder written from a random model, for loader tests. */
function writeTinyLlama(
  dir: string,
  mutate: (tensors: Record<string, { shape: number[]; values: Float32Array }>) => void = () => {},
) {
  const config = {
    model_type: 'llama',
    vocab_size: 16,
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
  };
  const rng = new Rng(5);
  const t = (shape: number[]) => ({
    shape,
    values: rng.normalArray(
      shape.reduce((a, b) => a * b, 1),
      0,
      0.5,
    ),
  });
  const tensors: Record<string, { shape: number[]; values: Float32Array }> = {
    'model.embed_tokens.weight': t([16, 8]),
    'model.layers.0.input_layernorm.weight': t([8]),
    'model.layers.0.post_attention_layernorm.weight': t([8]),
    'model.layers.0.self_attn.q_proj.weight': t([8, 8]),
    'model.layers.0.self_attn.k_proj.weight': t([4, 8]),
    'model.layers.0.self_attn.v_proj.weight': t([4, 8]),
    'model.layers.0.self_attn.o_proj.weight': t([8, 8]),
    'model.layers.0.mlp.gate_proj.weight': t([12, 8]),
    'model.layers.0.mlp.up_proj.weight': t([12, 8]),
    'model.layers.0.mlp.down_proj.weight': t([8, 12]),
    'model.norm.weight': t([8]),
  };
  mutate(tensors);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
  return tensors;
}

test('a written checkpoint loads, with linear weights transposed to [in, out]', () => {
  const dir = tempDir();
  try {
    const tensors = writeTinyLlama(dir);
    const before = tf.memory().numTensors;
    const model = loadLlamaFolder(dir);
    const q = model.layers[0]!.q.weight.arraySync() as number[][];
    const stored = tensors['model.layers.0.self_attn.q_proj.weight']!.values;
    assert.equal(q[1]![3], stored[3 * 8 + 1]); // ours [in=1, out=3] is theirs [out=3, in=1]
    const logits = tf.tidy(() => model.lmLogits(padBatch([[1, 2, 3]], 0), EVAL_CONTEXT).shape);
    assert.deepEqual(logits, [1, 3, 16]);
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('bad checkpoints fail with one line naming the file and tensor', () => {
  const dir = tempDir();
  try {
    assert.throws(() => loadLlamaFolder(dir), /has no config\.json: a Hugging Face model folder needs config\.json/);
    writeTinyLlama(
      dir,
      (t) =>
        (t['model.layers.0.mlp.up_proj.weight'] = {
          shape: [8, 12],
          values: t['model.layers.0.mlp.up_proj.weight']!.values,
        }),
    );
    assert.throws(
      () => loadLlamaFolder(dir),
      /model\.safetensors: tensor "model\.layers\.0\.mlp\.up_proj\.weight" has shape \[8,12\], the config implies \[12,8\]/,
    );
    writeTinyLlama(dir, (t) => delete t['model.norm.weight']);
    assert.throws(() => loadLlamaFolder(dir), /the checkpoint has no tensor "model\.norm\.weight"/);
    const good = encodeSafetensors(writeTinyLlama(dir));
    writeFileSync(join(dir, 'model.safetensors'), good.subarray(0, good.length - 10));
    assert.throws(
      () => loadLlamaFolder(dir),
      /model\.safetensors is truncated: tensor "model\.norm\.weight" ends at byte/,
    );
    const header = JSON.stringify({ w: { dtype: 'I8', shape: [2], data_offsets: [0, 2] } });
    const bytes = Buffer.alloc(8 + header.length + 2);
    bytes.writeBigUInt64LE(BigInt(header.length));
    bytes.write(header, 8);
    writeFileSync(join(dir, 'model.safetensors'), bytes);
    assert.throws(() => loadLlamaFolder(dir), /tensor "w" has dtype I8; mceval reads F32, F16 and BF16/);
    for (const error of [() => loadLlamaFolder(dir)]) {
      try {
        error();
      } catch (e) {
        assert.equal((e as Error).message.split('\n').length, 1);
      }
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('config.json in both transformers styles gives the same RoPE settings', () => {
  const base = { vocab_size: 8, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2 };
  const scaling = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };
  const v4 = parseLlamaConfig({ ...base, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', ...scaling } }, 'v4');
  const v5 = parseLlamaConfig(
    { ...base, rope_parameters: { rope_theta: 500000, rope_type: 'llama3', ...scaling } },
    'v5',
  );
  assert.deepEqual(v4, v5);
  assert.equal(v5.ropeTheta, 500000);
  assert.equal(v5.numKeyValueHeads, 2);
  assert.throws(
    () => parseLlamaConfig({ ...base, rope_scaling: { rope_type: 'yarn' } }, 'c.json'),
    /c\.json: RoPE type "yarn" is not supported/,
  );
});

test('Llama 3 frequency scaling keeps high frequencies, divides low ones, blends between (hand-computed)', () => {
  const scaling = {
    type: 'llama3' as const,
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 16,
  };
  // wavelengths 2π/f: f = 2 → 3.14 < 16/4 (kept); f = 0.1 → 62.8 > 16 (÷8); f = 0.5 → 12.57 (blend: smooth = (16/12.57 − 1)/3)
  const [high, low, mid] = llama3Frequencies(new Float64Array([2, 0.1, 0.5]), scaling);
  assert.equal(high, 2);
  assert.ok(Math.abs(low! - 0.1 / 8) < 1e-15);
  const smooth = (16 / ((2 * Math.PI) / 0.5) - 1) / 3;
  assert.ok(Math.abs(mid! - ((1 - smooth) * (0.5 / 8) + smooth * 0.5)) < 1e-15);
  assert.equal(ropeInverseFrequencies(4, 100)[1], 0.1);
});

test('builtin models still build and run without any checkpoint', () => {
  const { model, tokenizer } = loadModel('builtin:tiny');
  const shape = tf.tidy(() => model.lmLogits(padBatch([tokenizer.encode('hi')], 0), EVAL_CONTEXT).shape);
  assert.deepEqual(shape, [1, 3, 259]);
  model.dispose();
});

test("a decoder's attention_dropout is read (0 when absent) and written back, and drops probabilities in training only", () => {
  const base = { vocab_size: 32, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2 };
  assert.equal(parseLlamaConfig(base, 'c.json').attentionDropout, 0);
  const config = parseLlamaConfig({ ...base, attention_dropout: 0.3 }, 'c.json');
  assert.equal(config.attentionDropout, 0.3);
  assert.equal(llamaConfigJson(config)['attention_dropout'], 0.3);
  const logits = (attentionDropout: number, training: boolean) => {
    const model = new LlamaModel({ ...config, attentionDropout }, randomWeightInit(new Rng(6), 0.3));
    try {
      const context = training ? { training, rng: new Rng(2) } : EVAL_CONTEXT;
      return tf.tidy(() => Array.from(model.lmLogits(padBatch([[1, 2, 3, 4, 5]], 0), context).dataSync()));
    } finally {
      model.dispose();
    }
  };
  const evaluated = logits(0.3, false);
  assert.deepEqual(logits(0, true), evaluated);
  assert.deepEqual(logits(0.3, true), logits(0.3, true), 'the same seed drops the same probabilities');
  assert.notDeepEqual(logits(0.3, true), evaluated);
});

test('a model folder with neither tokenizer.json nor vocab.txt is refused in one line naming both, by the spec check and the loader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-no-tokenizer-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    const expected = /has no tokenizer\.json: put the model's fast-tokenizer file \(or a BERT vocab\.txt\) next to/;
    assert.throws(() => validateModelSpec(dir), expected);
    assert.throws(() => HfTokenizer.fromFolder(dir), expected);
    writeFileSync(join(dir, 'vocab.txt'), '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n');
    assert.doesNotThrow(() => validateModelSpec(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
