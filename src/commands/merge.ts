import { resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { UserError } from '../errors.js';
import { ensureWritableDirectory } from '../report/output-dir.js';
import { undoneOnFailure } from '../made-folders.js';
import { mergeStores, type MergeOutcome } from '../store/merge-stores.js';

export default class Merge extends BaseCommand {
  static override summary = 'Join the shard stores of one sweep into OUT and rewrite its results from them.';
  static override description =
    'SHARD folders are the --out folders of "mceval run --shard i/n" runs (as "mceval plan" lays them out: ' +
    'OUT/shards/i). Shards of different sweeps are refused; so is an incomplete sweep (a shard missing or ' +
    'unfinished) unless --partial. OUT gets every run folder and row, and results.csv, summary.csv and results.json ' +
    'for the whole sweep. Merging again after more shards finished adds only the new runs.';
  static override examples = ['<%= config.bin %> merge ./runs ./runs/shards/0 ./runs/shards/1 ./runs/shards/2'];
  static override strict = false;
  static override args = {
    out: Args.string({ description: 'The merged store (created if needed).', required: true }),
    shards: Args.string({ description: 'Shard store folders.', required: false }),
  };
  static override flags = {
    partial: Flags.boolean({ description: 'Merge even if shards are missing or unfinished.', default: false }),
  };

  async run(): Promise<MergeOutcome> {
    const { args, argv, flags } = await this.parse(Merge);
    const shards = (argv as string[]).slice(1);
    if (shards.length === 0) {
      throw new UserError('Name the shard folders to merge: mceval merge OUT SHARD_DIR… (e.g. OUT/shards/*).');
    }
    const out = resolve(args.out);
    const made = ensureWritableDirectory(out);
    const outcome = await undoneOnFailure(made, async () => mergeStores(out, shards, { partial: flags.partial }));
    this.log(
      `Merged ${outcome.merged} new run${outcome.merged === 1 ? '' : 's'} from ${shards.length} shard` +
        `${shards.length === 1 ? '' : 's'}; ${out} holds ${outcome.total} of the plan's ${outcome.planSize}. ` +
        `Wrote ${outcome.files.results}, ${outcome.files.summary} and ${outcome.files.json}.`,
    );
    return outcome;
  }
}
