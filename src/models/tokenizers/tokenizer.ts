/** What mceval needs of a tokenizer. The byte-level one is built in; Hugging Face tokenizers implement the same. */
export interface TextTokenizer {
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Token ids of a text, with the beginning-of-sequence token first when `addBos` (the default). */
  encode(text: string, options?: { addBos?: boolean }): number[];
  decode(ids: readonly number[]): string;
}
