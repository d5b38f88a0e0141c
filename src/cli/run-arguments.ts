/**
 * Parsed `mceval run` flags written back as arguments, for scripts that run the same sweep on other machines: paths
 * (--data, --train-file, preset files, a model folder) made absolute, since a cluster job starts elsewhere.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { runFlags } from './run-flags.js';

const PATH_FLAGS = new Set(['data', 'train-file']);

function absolute(name: string, value: string): string {
  if (PATH_FLAGS.has(name)) return resolve(value);
  if (name === 'model') return existsSync(value) ? resolve(value) : value;
  if (name === 'adapter') {
    return value
      .split(',')
      .map((item) => (item.trim().endsWith('.json') ? resolve(item.trim()) : item.trim()))
      .join(',');
  }
  return value;
}

export function runArguments(flags: Readonly<Record<string, unknown>>, omit: readonly string[]): string[] {
  return Object.keys(runFlags)
    .filter((name) => !omit.includes(name))
    .flatMap((name) => {
      const value = flags[name];
      if (value === undefined || value === false) return [];
      if (value === true) return [`--${name}`];
      const values = Array.isArray(value) ? value : [value];
      return values.flatMap((item) => [`--${name}`, absolute(name, String(item))]);
    });
}
