/** What every PEFT adapter folder shares: adapter_config.json, and adapter_model.safetensors read into an adapter. */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { encodeSafetensors, SafetensorsFile, type TensorRecord } from '../models/safetensors.js';
import { writeFileAtomic } from '../atomic-write.js';
import { tf, type Variable } from '../engine/tf.js';
import type { Linear } from '../models/layers/linear.js';
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
    // Assigning keeps a value's data in the variable; the tensors made to carry it are released here.
    tf.tidy(() => fill(file));
  } catch (error) {
    adapter.dispose();
    throw error;
  } finally {
    file.close();
  }
}

/**
 * A classification head saved with the adapter, as PEFT's PeftModelForSequenceClassification saves its
 * `modules_to_save`: the module's name (transformers' `classifier`, a decoder's `score`) and its tensors under their
 * keys in adapter_model.safetensors.
 */
export interface AdapterHead {
  readonly module: string;
  readonly state: TensorRecord;
}

/**
 * Writes an adapter folder as PEFT saves one: adapter_model.safetensors and adapter_config.json (plus any
 * `extraFiles`, e.g. MonteCLoRA's own settings), each file whole or not at all. With a `head`, the adapter is a
 * sequence classifier's: task_type SEQ_CLS, the head in modules_to_save and its tensors beside the adapter's.
 */
export function writeAdapterFolder(
  dir: string,
  config: Record<string, unknown>,
  state: TensorRecord,
  extraFiles: Record<string, unknown> = {},
  head?: AdapterHead,
): void {
  if (Object.keys(state).length === 0) throw new UserError('The model has no adapter tensors to save.');
  mkdirSync(dir, { recursive: true });
  const headed = head === undefined ? {} : { task_type: 'SEQ_CLS', modules_to_save: [head.module] };
  writeFileAtomic(join(dir, 'adapter_model.safetensors'), encodeSafetensors({ ...state, ...head?.state }));
  for (const [name, content] of Object.entries(extraFiles)) {
    writeFileAtomic(join(dir, name), `${JSON.stringify(content, null, 2)}\n`);
  }
  writeFileAtomic(join(dir, 'adapter_config.json'), `${JSON.stringify({ ...config, ...headed }, null, 2)}\n`);
}

/** Reads PEFT's [a, b] tensor `key` into a [b, a] variable, or names the key and both shapes when they differ. */
export function assignTransposed(file: SafetensorsFile, key: string, target: Variable, neededBy: string): void {
  const { shape, values } = requireTensor(file, key, neededBy);
  const expected = [target.shape[1]!, target.shape[0]!];
  if (shape.length !== 2 || shape[0] !== expected[0] || shape[1] !== expected[1]) {
    throw new UserError(`${file.path}: tensor "${key}" has shape [${shape}], the model needs [${expected}].`);
  }
  target.assign(tf.tidy(() => tf.transpose(tf.tensor2d(values, [shape[0]!, shape[1]!]))));
}

/** The model's linear layers whose adapter is of `type` (or a subclass), with that adapter. */
export function adapterLayersOf<L>(
  model: { linears(): Linear[] },
  type: abstract new (...args: never[]) => L,
): { linear: Linear; layer: L }[] {
  return model
    .linears()
    .filter((linear) => linear.adapter instanceof type)
    .map((linear) => ({ linear, layer: linear.adapter as L }));
}
