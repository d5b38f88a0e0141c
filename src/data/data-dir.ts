/**
 * Where task data lives: `--data DIR`, else $MCEVAL_DATA. Each task documents the files it expects under that
 * directory (the layout of the canonical downloads, e.g. rte/train.tsv); a missing file is one line naming the task,
 * the expected path and the two remedies.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';

export function resolveDataDir(flag: string | undefined): string | undefined {
  const dir = flag ?? process.env['MCEVAL_DATA'];
  return dir === undefined || dir === '' ? undefined : dir;
}

/** A task's data file is not where it was expected (the message says where, and how to get it). */
export class MissingDataFile extends UserError {
  constructor(
    message: string,
    /** The file, relative to the data directory. */
    readonly relative: string,
  ) {
    super(message);
  }
}

/** The path of one of a task's data files, or a one-line error saying where it was expected and how to get it. */
export function requireDataFile(task: string, dataDir: string | undefined, relative: string): string {
  if (dataDir === undefined) {
    throw new UserError(
      `Task ${task} needs its data: pass --data DIR (or set MCEVAL_DATA) with ${relative} under it, or run \`mceval data pull ${task}\`.`,
    );
  }
  const path = join(dataDir, relative);
  if (!existsSync(path)) {
    throw new MissingDataFile(
      `Task ${task}: data file not found at ${path}. Run \`mceval data pull ${task}\` or point --data (MCEVAL_DATA) at a directory with ${relative}.`,
      relative,
    );
  }
  return path;
}
