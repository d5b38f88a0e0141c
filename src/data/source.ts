/** Where a task's data comes from: its canonical files under --data, or Hugging Face exports of them. */
import type { HubSource } from './hub-export.js';

export interface DataSource<Splits> {
  readonly name: string;
  /** The files the task reads under --data, for messages and `data verify`. */
  readonly dataFiles?: readonly string[];
  /** Loads the splits; `dataDir` is --data (or $MCEVAL_DATA), undefined when neither is given. */
  load(dataDir: string | undefined): Splits;
  /** Reads Hugging Face exports of the data (hub/<repo>/<config>/<split> under --data) when the canonical files are absent. */
  readonly hub?: HubSource<Splits>;
}
