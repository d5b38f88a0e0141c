/**
 * Folders a command makes for what it writes, and takes back where the command fails before writing it, so that bad
 * input (missing data, an unusable backend, a refused shard, a failed download) leaves nothing behind.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Makes `dir` one level at a time (Node's recursive mkdir can spin forever under /proc); the folders it made,
 * outermost first (none where `dir` was there).
 */
export function makeFolders(dir: string): string[] {
  const missing: string[] = [];
  let current = resolve(dir);
  while (!existsSync(current)) {
    missing.unshift(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const folder of missing) mkdirSync(folder);
  return missing;
}

/**
 * `work`'s result; where it fails, the folders makeFolders made (`made`) go again — the outermost, with what the
 * command wrote there since (a training mixture, a store) — and the error is thrown on. A folder that was there
 * before is left as it is.
 */
export async function undoneOnFailure<T>(made: readonly string[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (made.length > 0) rmSync(made[0]!, { recursive: true, force: true });
    throw error;
  }
}

/** Removes the folders makeFolders made (`made`) that are empty, innermost first; one that holds something stays. */
export function removeEmptyFolders(made: readonly string[]): void {
  for (const folder of [...made].reverse()) {
    if (!existsSync(folder) || readdirSync(folder).length > 0) return;
    rmdirSync(folder);
  }
}
