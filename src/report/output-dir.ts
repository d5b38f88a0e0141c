/** Makes sure --out can be written before any training starts, so a long run never fails at its last step. */
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError, errorMessage } from '../errors.js';

/**
 * Creates the folder one level at a time (Node's recursive mkdir can spin forever under /proc) and proves it
 * writable by writing and removing a probe file, which also catches read-only mounts where root passes access().
 * Returns the folders it made, outermost first (undoneOnFailure removes them where what follows fails).
 */
export function ensureWritableDirectory(dir: string): string[] {
  const target = resolve(dir);
  try {
    const missing: string[] = [];
    let current = target;
    while (!existsSync(current)) {
      missing.unshift(current);
      const parent = dirname(current);
      if (parent === current) break;
      current = parent;
    }
    for (const folder of missing) mkdirSync(folder);
    if (!statSync(target).isDirectory()) throw new Error('not a directory');
    const probe = join(target, `.mceval-write-probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
    return missing;
  } catch (error) {
    const reason = errorMessage(error).replace(/^[A-Z]+: /, '');
    throw new UserError(`Cannot write results to --out ${dir} (${reason}): choose a writable folder.`);
  }
}

/**
 * `work`'s result; where it fails, the folders ensureWritableDirectory made (`made`) go again — the outermost, with
 * what the command wrote there since (a training mixture, a store) — so that a command refused after proving --out
 * writable leaves nothing behind. A folder that was there before is left as it is.
 */
export async function undoneOnFailure<T>(made: readonly string[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (made.length > 0) rmSync(made[0]!, { recursive: true, force: true });
    throw error;
  }
}
