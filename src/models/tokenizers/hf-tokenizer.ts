/**
 * Hugging Face tokenizers from `tokenizer.json` + `tokenizer_config.json`, through @huggingface/tokenizers (pure JS;
 * it reproduced transformers 5.17 on every golden encoding). Chat templates render with @huggingface/jinja from
 * `tokenizer_config.json` or `chat_template.jinja`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { UserError } from '../../errors.js';
import type { TextTokenizer } from './tokenizer.js';
import { padBatch, type PaddedBatch } from './padding.js';
import { longestFirst } from './longest-first.js';
import { bertTokenizerJson, readVocab } from './wordpiece-vocab.js';

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

type TokenizerConfig = Record<string, unknown>;

/** A special token in tokenizer_config.json: a string or an AddedToken object with `content`. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

export class HfTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padToken: string | undefined;
  /** tokenizer_config.json's padding_side: where padding goes when this tokenizer's batches are padded. */
  readonly paddingSide: 'left' | 'right';
  private readonly tokenizer: Tokenizer;
  private readonly cleanUpSpaces: boolean;

  constructor(
    tokenizerJson: object,
    private readonly config: TokenizerConfig,
    private readonly chatTemplate: string | undefined,
  ) {
    this.tokenizer = new Tokenizer(tokenizerJson, config);
    this.vocabSize = this.tokenizer.get_vocab(true).size;
    const id = (key: string): number | undefined => {
      const text = tokenText(config[key]);
      return text === undefined ? undefined : this.tokenizer.token_to_id(text);
    };
    this.bosId = id('bos_token') ?? id('cls_token') ?? 0;
    this.eosId = id('eos_token') ?? id('sep_token') ?? 0;
    this.padToken = tokenText(config['pad_token']);
    this.padId = id('pad_token') ?? 0;
    this.paddingSide = config['padding_side'] === 'left' ? 'left' : 'right';
    // Passed explicitly: the library's decode cleans up spaces unless told otherwise (engine-notes.md).
    this.cleanUpSpaces = config['clean_up_tokenization_spaces'] === true;
  }

  /** The one-line error for a model folder without a tokenizer, or undefined when it has one. */
  static missingIn(dir: string): string | undefined {
    if (existsSync(join(dir, 'tokenizer.json')) || existsSync(join(dir, 'vocab.txt'))) return undefined;
    return `${dir} has no tokenizer.json: put the model's fast-tokenizer file (or a BERT vocab.txt) next to config.json.`;
  }

  /** tokenizer.json, or for a BERT checkpoint without one, the tokenizer its vocab.txt makes (wordpiece-vocab.ts). */
  static fromFolder(dir: string): HfTokenizer {
    const path = join(dir, 'tokenizer.json');
    const vocabPath = join(dir, 'vocab.txt');
    const missing = HfTokenizer.missingIn(dir);
    if (missing !== undefined) throw new UserError(missing);
    const configPath = join(dir, 'tokenizer_config.json');
    const config = existsSync(configPath) ? (JSON.parse(readFileSync(configPath, 'utf8')) as TokenizerConfig) : {};
    const templatePath = join(dir, 'chat_template.jinja');
    const template =
      typeof config['chat_template'] === 'string'
        ? (config['chat_template'] as string)
        : existsSync(templatePath)
          ? readFileSync(templatePath, 'utf8')
          : undefined;
    const json = existsSync(path)
      ? (JSON.parse(readFileSync(path, 'utf8')) as object)
      : bertTokenizerJson(readVocab(readFileSync(vocabPath, 'utf8')), config, vocabPath);
    return new HfTokenizer(json, config, template);
  }

  /** Ids of a text; special tokens (BOS, CLS/SEP, …) as the tokenizer's post-processor adds them, unless `addBos` is false. */
  encode(text: string, options: { addBos?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addBos !== false }).ids;
  }

  /** Encodes texts (or text pairs) truncated to `maxLength` and pads them on the tokenizer's padding side. */
  encodeBatch(
    texts: readonly (string | readonly [string, string])[],
    maxLength: number,
  ): PaddedBatch & { tokenTypeIds: Int32Array } {
    const rows = texts.map((text) =>
      typeof text === 'string'
        ? this.encodeTruncated(text, undefined, maxLength)
        : this.encodeTruncated(text[0], text[1], maxLength),
    );
    const batch = padBatch(
      rows.map((row) => row.ids),
      this.padId,
      { side: this.paddingSide },
    );
    const types = padBatch(
      rows.map((row) => row.tokenTypeIds),
      0,
      { side: this.paddingSide },
    );
    return { ...batch, tokenTypeIds: types.ids };
  }

  /** A text pair with token type ids, as sentence-pair tasks feed encoders. */
  encodePair(text: string, pair: string): { ids: number[]; tokenTypeIds: number[] } {
    const encoding = this.tokenizer.encode(text, {
      text_pair: pair,
      add_special_tokens: true,
      return_token_type_ids: true,
    });
    return { ids: encoding.ids, tokenTypeIds: encoding.token_type_ids };
  }

  /**
   * A text or text pair truncated to `maxLength` tokens special tokens included, with the longest_first strategy of
   * Hugging Face tokenizers (the longer sequence loses tokens first; both are cut to half when both are too long).
   */
  encodeTruncated(
    text: string,
    pair: string | undefined,
    maxLength: number,
  ): { ids: number[]; tokenTypeIds: number[] } {
    const first = this.tokenizer.tokenize(text, { add_special_tokens: false });
    const second = pair === undefined ? undefined : this.tokenizer.tokenize(pair, { add_special_tokens: false });
    const specials = this.specialTokenCount(pair !== undefined);
    const budget = Math.max(0, maxLength - specials);
    const [keepFirst, keepSecond] = longestFirst(first.length, second?.length ?? 0, budget, second !== undefined);
    const processed: { tokens: string[]; token_type_ids?: number[] } = this.tokenizer.post_processor
      ? (this.tokenizer.post_processor(first.slice(0, keepFirst), second?.slice(0, keepSecond) ?? null, {
          add_special_tokens: true,
        }) as { tokens: string[]; token_type_ids?: number[] })
      : { tokens: [...first.slice(0, keepFirst), ...(second?.slice(0, keepSecond) ?? [])] };
    const ids = processed.tokens.map((token) => this.tokenizer.token_to_id(token) ?? this.unknownId(token));
    return { ids, tokenTypeIds: processed.token_type_ids ?? new Array<number>(ids.length).fill(0) };
  }

  /** Special tokens the post-processor adds to a single text and to a pair; measured once, on first use. */
  private readonly specialTokens = new Map<boolean, number>();

  private specialTokenCount(isPair: boolean): number {
    const known = this.specialTokens.get(isPair);
    if (known !== undefined) return known;
    const withSpecials = this.tokenizer.encode('a', isPair ? { text_pair: 'a' } : {}).ids.length;
    const without = this.tokenizer.encode('a', { ...(isPair ? { text_pair: 'a' } : {}), add_special_tokens: false }).ids
      .length;
    this.specialTokens.set(isPair, withSpecials - without);
    return withSpecials - without;
  }

  private unknownId(token: string): number {
    throw new UserError(`Token "${token}" is not in the vocabulary of this tokenizer.`);
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return this.tokenizer.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? true,
      clean_up_tokenization_spaces: this.cleanUpSpaces,
    });
  }

  get hasChatTemplate(): boolean {
    return this.chatTemplate !== undefined;
  }

  /** The chat template rendered for `messages`, as transformers' apply_chat_template(tokenize=False). */
  renderChat(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    if (this.chatTemplate === undefined) {
      throw new UserError(
        'This tokenizer has no chat template (tokenizer_config.json "chat_template" or chat_template.jinja).',
      );
    }
    return new Template(this.chatTemplate).render({
      messages,
      bos_token: tokenText(this.config['bos_token']) ?? '',
      eos_token: tokenText(this.config['eos_token']) ?? '',
      add_generation_prompt: options.addGenerationPrompt ?? false,
    });
  }
}
