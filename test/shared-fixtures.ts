/** Where the reference fixtures live (../shared beside the checkout), and a visible skip when they are absent. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packagePath } from '../src/paths.js';

export const SHARED = packagePath('..', 'shared');

/** The path of a shared fixture, or a skip reason naming it (node:test prints it as "# SKIP …"). */
export function sharedPath(...parts: string[]): { path: string; skip: string | false } {
  const path = join(SHARED, ...parts);
  return { path, skip: existsSync(path) ? false : `reference fixture ${path} is absent` };
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
