/** Makes sure --out can be written before any training starts, so a long run never fails at its last step. */
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError, errorMessage } from '../errors.js';
import { makeFolders } from '../made-folders.js';

/**
 * Makes the folder and proves it writable by writing and removing a probe file, which also catches read-only mounts
 * where root passes access(). Returns the folders it made, outermost first (undoneOnFailure removes them where what
 * follows fails).
 */
export function ensureWritableDirectory(dir: string): string[] {
  const target = resolve(dir);
  try {
    const made = makeFolders(target);
    if (!statSync(target).isDirectory()) throw new Error('not a directory');
    const probe = join(target, `.mceval-write-probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
    return made;
  } catch (error) {
    const reason = errorMessage(error).replace(/^[A-Z]+: /, '');
    throw new UserError(`Cannot write results to --out ${dir} (${reason}): choose a writable folder.`);
  }
}
