/** Where the package's own files (presets, fixtures) live, whether run from a clone or an installed package. */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** dist/src/paths.js → the package root, two folders above dist/src. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function packagePath(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}
