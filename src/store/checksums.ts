/**
 * What the run key and the provenance say about a run's inputs: the sha256 of a model (every file of a Hugging Face
 * folder, streamed through the hub downloader's `fileDigest`, so multi-gigabyte checkpoints hash without loading; a
 * builtin model by its name and the mceval version that defines its initialisation) and of the data a run actually
 * trains and evaluates on (the task's splits after --limit, --train-limit and --train-file, whatever files or hub
 * exports they came from), plus each canonical data file that was present.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileDigest } from '../models/hub/download.js';
import { sha256, stableJson } from './stable-json.js';

/** A builtin model: its spec and the mceval version; a folder: the hash of its files' names and hashes. */
export async function modelSha256(spec: string, mcevalVersion: string): Promise<string> {
  if (spec.startsWith('builtin:')) return sha256(`${spec}@mceval ${mcevalVersion}`);
  const files = readdirSync(spec)
    .filter((name) => !name.startsWith('.') && statSync(join(spec, name)).isFile())
    .sort();
  const lines: string[] = [];
  for (const name of files) lines.push(`${name} ${await fileDigest(join(spec, name), 'sha256')}`);
  return sha256(lines.join('\n'));
}

/** The hash of the splits a run uses, as loaded and cut. */
export function splitsSha256(splits: unknown): string {
  return sha256(stableJson(splits));
}

/** sha256 of each of the task's canonical files that exists under --data (hub exports hash through the splits). */
export async function dataFileHashes(
  dataDir: string | undefined,
  files: readonly string[] | undefined,
): Promise<Record<string, string>> {
  if (dataDir === undefined) return {};
  const hashes: Record<string, string> = {};
  for (const file of files ?? []) {
    if (existsSync(join(dataDir, file))) hashes[file] = await fileDigest(join(dataDir, file), 'sha256');
  }
  return hashes;
}
