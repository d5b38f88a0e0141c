/**
 * The byte-level tokenizer of the builtin models: three special tokens, then one token per UTF-8 byte. Every text
 * encodes losslessly, so the builtin models need no vocabulary file.
 */
import type { TextTokenizer } from './tokenizer.js';

const SPECIAL_TOKENS = ['<pad>', '<s>', '</s>'] as const;
const BYTE_OFFSET = SPECIAL_TOKENS.length;

export class ByteLevelTokenizer implements TextTokenizer {
  readonly vocabSize = BYTE_OFFSET + 256;
  readonly padId = 0;
  readonly bosId = 1;
  readonly eosId = 2;

  encode(text: string, options: { addBos?: boolean } = {}): number[] {
    const bytes = Buffer.from(text, 'utf8');
    const ids = options.addBos === false ? [] : [this.bosId];
    for (const byte of bytes) ids.push(byte + BYTE_OFFSET);
    return ids;
  }

  decode(ids: readonly number[]): string {
    const bytes = ids.filter((id) => id >= BYTE_OFFSET).map((id) => id - BYTE_OFFSET);
    return Buffer.from(bytes).toString('utf8');
  }
}
