/**
 * Tiny BERT and RoBERTa sequence classifiers made here, for tests that need an encoder without ../shared: random
 * weights (seeded), a character-level WordPiece tokenizer.json with the family's special tokens and pair template,
 * and a Hugging Face folder holding both; plus a small RTE-format data folder of sentence pairs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/engine/rng.js';
import { EncoderModel } from '../src/models/encoder/model.js';
import type { EncoderConfig } from '../src/models/encoder/config.js';
import { randomWeightInit } from '../src/models/init.js';
import { saveEncoderFolder } from '../src/models/hf/save-folder.js';
import type { EncodedExample } from '../src/train/fine-tune.js';
import { specialAddedToken } from '../src/models/tokenizers/wordpiece-vocab.js';

type Family = 'bert' | 'roberta';

const SPECIALS: Record<Family, { pad: string; unk: string; cls: string; sep: string; order: string[] }> = {
  bert: { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]', order: ['[PAD]', '[UNK]', '[CLS]', '[SEP]'] },
  roberta: { pad: '<pad>', unk: '<unk>', cls: '<s>', sep: '</s>', order: ['<s>', '<pad>', '</s>', '<unk>'] },
};

const CHARACTERS = [...'abcdefghijklmnopqrstuvwxyz0123456789'];
const PUNCTUATION = [...".,?!'-"];

/** Specials, then each character as a word start and as a continuation (##c), then punctuation. */
function vocabulary(family: Family): string[] {
  return [...SPECIALS[family].order, ...CHARACTERS, ...CHARACTERS.map((c) => `##${c}`), ...PUNCTUATION];
}

export function tinyEncoderConfig(family: Family): EncoderConfig {
  const padTokenId = vocabulary(family).indexOf(SPECIALS[family].pad);
  return {
    modelType: family,
    vocabSize: vocabulary(family).length,
    hiddenSize: 16,
    intermediateSize: 32,
    numHiddenLayers: 2,
    numAttentionHeads: 2,
    // RoBERTa's positions start after padding_idx: 96 usable either way.
    maxPositionEmbeddings: family === 'bert' ? 96 : 96 + padTokenId + 1,
    typeVocabSize: family === 'bert' ? 2 : 1,
    layerNormEps: 1e-12,
    padTokenId,
    initializerRange: 0.02,
    hiddenDropout: 0.1,
    attentionDropout: 0.1,
    classifierDropout: 0.1,
  };
}

/**
 * A random encoder (body and a `labels`-way head), weights drawn with standard deviation `std` from `seed`, its
 * hidden and classifier dropout `dropout` (transformers' 0.1 by default), its attention-probability dropout
 * `attentionDropout` (`dropout` by default).
 */
export function tinyEncoder(
  family: Family,
  {
    seed = 1,
    std = 0.2,
    labels = 2,
    dropout = 0.1,
    attentionDropout = dropout,
  }: { seed?: number; std?: number; labels?: number; dropout?: number; attentionDropout?: number } = {},
): EncoderModel {
  const init = randomWeightInit(new Rng(seed), std);
  const config = { ...tinyEncoderConfig(family), hiddenDropout: dropout, attentionDropout, classifierDropout: dropout };
  const model = new EncoderModel(config, init);
  model.addClassificationHead(labels, init);
  return model;
}

function tokenizerJson(family: Family): object {
  const vocab = vocabulary(family);
  const { cls, sep } = SPECIALS[family];
  const special = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const sequence = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  // BERT: [CLS] A [SEP] B [SEP], B's tokens type 1; RoBERTa: <s> A </s></s> B </s>, all type 0.
  const pair =
    family === 'bert'
      ? [special(cls, 0), sequence('A', 0), special(sep, 0), sequence('B', 1), special(sep, 1)]
      : [special(cls, 0), sequence('A', 0), special(sep, 0), special(sep, 0), sequence('B', 0), special(sep, 0)];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS[family].order.map((content) => specialAddedToken(content, vocab.indexOf(content))),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special(cls, 0), sequence('A', 0), special(sep, 0)],
      pair,
      special_tokens: Object.fromEntries(
        [cls, sep].map((token) => [token, { id: token, ids: [vocab.indexOf(token)], tokens: [token] }]),
      ),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: SPECIALS[family].unk,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((token, id) => [token, id])),
    },
  };
}

/** Writes a tiny `family` classifier as a Hugging Face folder (config.json, model.safetensors, tokenizer files). */
export function writeTinyEncoderFolder(dir: string, family: Family, seed = 1): void {
  const model = tinyEncoder(family, { seed });
  try {
    saveEncoderFolder(model, dir);
  } finally {
    model.dispose();
  }
  const { pad, unk, cls, sep } = SPECIALS[family];
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(family)));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({ cls_token: cls, sep_token: sep, pad_token: pad, unk_token: unk, model_max_length: 96 }),
  );
}

const WORDS = ['red', 'cat', 'sat', 'on', 'a', 'mat', 'dog', 'ran', 'far', 'big', 'old', 'tree', 'blue', 'sky'];

/**
 * An RTE-format folder (rte/train.tsv, rte/dev.tsv): a sentence and a hypothesis that is a piece of it
 * (entailment) or is not (not_entailment), drawn from `seed`.
 */
export function writePairData(dir: string, { train = 48, dev = 16, seed = 7 } = {}): void {
  const rng = new Rng(seed);
  const pick = () => WORDS[Math.floor(rng.uniform() * WORDS.length)]!;
  const rows = (count: number) =>
    Array.from({ length: count }, (_, i) => {
      const sentence = Array.from({ length: 6 }, pick);
      const entailed = i % 2 === 0;
      const hypothesis = entailed ? sentence.slice(1, 4) : [pick(), pick(), pick()];
      return `${i}\t${sentence.join(' ')}.\t${hypothesis.join(' ')}.\t${entailed ? 'entailment' : 'not_entailment'}`;
    });
  mkdirSync(join(dir, 'rte'), { recursive: true });
  const header = 'index\tsentence1\tsentence2\tlabel';
  writeFileSync(join(dir, 'rte', 'train.tsv'), `${[header, ...rows(train)].join('\n')}\n`);
  writeFileSync(join(dir, 'rte', 'dev.tsv'), `${[header, ...rows(dev)].join('\n')}\n`);
}

/** Sentence pairs with token types, as the bert tokenizer makes them, and alternating labels. */
export function encoderPairExamples(count: number, seed = 21): EncodedExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, i) => {
    const first = 3 + Math.floor(rng.uniform() * 6);
    const second = 2 + Math.floor(rng.uniform() * 5);
    const word = () => 4 + Math.floor(rng.uniform() * 70);
    const ids = [2, ...Array.from({ length: first }, word), 3, ...Array.from({ length: second }, word), 3];
    const tokenTypeIds = ids.map((_, t) => (t <= first + 1 ? 0 : 1));
    return { ids, tokenTypeIds, label: i % 2 };
  });
}
