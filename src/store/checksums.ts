/**
 * What the run key and the provenance say about a run's inputs: the sha256 of a model (every file of a Hugging Face
 * folder, read in chunks, so multi-gigabyte checkpoints hash without loading; a builtin model by its name and the
 * mceval version that defines its initialisation) and of the data a run actually trains and evaluates on (the task's
 * splits after --limit, --train-limit and --train-file, whatever files or hub exports they came from), plus each
 * canonical data file that was present.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { sha256, stableJson } from './stable-json.js';

const CHUNK = 16 * 1024 * 1024;

export function fileSha256(path: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, 'r');
  try {
    for (let read = readSync(fd, buffer, 0, CHUNK, null); read > 0; read = readSync(fd, buffer, 0, CHUNK, null)) {
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** A builtin model: its spec and the mceval version; a folder: the hash of its files' names and hashes. */
export function modelSha256(spec: string, mcevalVersion: string): string {
  if (spec.startsWith('builtin:')) return sha256(`${spec}@mceval ${mcevalVersion}`);
  const files = readdirSync(spec)
    .filter((name) => !name.startsWith('.') && statSync(join(spec, name)).isFile())
    .sort();
  return sha256(files.map((name) => `${name} ${fileSha256(join(spec, name))}`).join('\n'));
}

/** The hash of the splits a run uses, as loaded and cut. */
export function splitsSha256(splits: unknown): string {
  return sha256(stableJson(splits));
}

/** sha256 of each of the task's canonical files that exists under --data (hub exports hash through the splits). */
export function dataFileHashes(
  dataDir: string | undefined,
  files: readonly string[] | undefined,
): Record<string, string> {
  if (dataDir === undefined) return {};
  const present = (files ?? []).filter((file) => existsSync(join(dataDir, file)));
  return Object.fromEntries(present.map((file) => [file, fileSha256(join(dataDir, file))]));
}
