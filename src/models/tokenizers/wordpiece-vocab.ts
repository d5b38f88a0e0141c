/**
 * BERT checkpoints that ship only a WordPiece `vocab.txt` (no fast-tokenizer file) get the tokenizer.json that
 * transformers' BertConverter makes from it: BertNormalizer (cleaning, Chinese characters split, lower-casing as
 * `do_lower_case` says, accents stripped with it unless `strip_accents` says otherwise), BertPreTokenizer, WordPiece
 * (`##` continuations, words over 100 characters unknown), `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` with token type 1
 * on B, and the special tokens named in tokenizer_config.json (or BERT's defaults).
 */
import { UserError } from '../../errors.js';

type Config = Readonly<Record<string, unknown>>;

function special(config: Config, key: string, fallback: string): string {
  const value = config[key];
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string')
    return (value as { content: string }).content;
  return fallback;
}

/** tokenizer.json's entry for a special token, matched before normalisation. */
export function specialAddedToken(content: string, id: number): object {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** The vocabulary, one token per line in id order (a trailing empty line is no token). */
export function readVocab(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

export function bertTokenizerJson(vocab: readonly string[], config: Config, source: string): object {
  const ids = new Map(vocab.map((token, id) => [token, id]));
  const token = (key: string, fallback: string) => {
    const text = special(config, key, fallback);
    if (!ids.has(text)) throw new UserError(`${source} has no "${text}" (${key}): a BERT vocabulary needs it.`);
    return text;
  };
  const [cls, sep, unk] = [token('cls_token', '[CLS]'), token('sep_token', '[SEP]'), token('unk_token', '[UNK]')];
  const specials = [
    ...new Set([special(config, 'pad_token', '[PAD]'), unk, cls, sep, special(config, 'mask_token', '[MASK]')]),
  ].filter((text) => ids.has(text));
  const lowercase = config['do_lower_case'] !== false;
  const stripAccents = typeof config['strip_accents'] === 'boolean' ? config['strip_accents'] : null;
  const part = (kind: 'SpecialToken' | 'Sequence', id: string, typeId: number) => ({ [kind]: { id, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials
      .map((content) => ids.get(content)!)
      .sort((a, b) => a - b)
      .map((id) => specialAddedToken(vocab[id]!, id)),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: config['tokenize_chinese_chars'] !== false,
      strip_accents: stripAccents,
      lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [part('SpecialToken', cls, 0), part('Sequence', 'A', 0), part('SpecialToken', sep, 0)],
      pair: [
        part('SpecialToken', cls, 0),
        part('Sequence', 'A', 0),
        part('SpecialToken', sep, 0),
        part('Sequence', 'B', 1),
        part('SpecialToken', sep, 1),
      ],
      special_tokens: Object.fromEntries(
        [cls, sep].map((text) => [text, { id: text, ids: [ids.get(text)!], tokens: [text] }]),
      ),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: unk,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(ids),
    },
  };
}
