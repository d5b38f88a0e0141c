/** What every PEFT adapter folder shares: adapter_config.json, and adapter_model.safetensors read into an adapter. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { SafetensorsFile } from '../models/safetensors.js';
import type { AppliedAdapter } from './types.js';

/** PEFT saves module tensors under the wrapped model's path (and without the adapter name, "default"). */
export const PEFT_PREFIX = 'base_model.model.';

export function readAdapterConfig(dir: string): { raw: Record<string, unknown>; path: string } {
  const path = join(dir, 'adapter_config.json');
  if (!existsSync(path)) throw new UserError(`${dir} has no adapter_config.json: not a PEFT adapter folder.`);
  return { raw: JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>, path };
}

/** A tensor the adapter needs, or a one-line error naming the file, the key and what needed it. */
export function requireTensor(
  file: SafetensorsFile,
  key: string,
  neededBy: string,
): { shape: readonly number[]; values: Float32Array } {
  if (!file.tensors.has(key)) throw new UserError(`${file.path}: no tensor "${key}" for ${neededBy}.`);
  return file.read(key);
}

/** Opens the adapter's weights and lets `fill` copy them in; on any problem the adapter is removed again. */
export function fillAdapterFromFolder(
  dir: string,
  adapter: AppliedAdapter,
  fill: (file: SafetensorsFile) => void,
): void {
  const file = SafetensorsFile.open(join(dir, 'adapter_model.safetensors'));
  try {
    fill(file);
  } catch (error) {
    adapter.dispose();
    throw error;
  } finally {
    file.close();
  }
}
