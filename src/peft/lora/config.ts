/** LoRA hyperparameters, named and defaulted as in PEFT's LoraConfig (alpha = lora_alpha, dropout = lora_dropout). */
import { expectObject, readNumber, readStringArray, rejectUnknownKeys } from '../../config-validation.js';

export interface LoraConfig {
  /** Rank of the update. */
  readonly r: number;
  /** The update is scaled by alpha / r. */
  readonly alpha: number;
  /** Dropout on the adapter's input (training only). */
  readonly dropout: number;
  /** Module names (last path component, or a full path) to adapt. */
  readonly targetModules: readonly string[];
}

const KEYS = ['r', 'alpha', 'dropout', 'targetModules'] as const;

export function parseLoraConfig(raw: unknown, source: string): LoraConfig {
  const where = `the "adapter" section of ${source}`;
  const object = expectObject(raw ?? {}, where);
  rejectUnknownKeys(object, KEYS, where);
  return {
    r: readNumber(object, 'r', where, { default: 8, min: 1, integer: true }),
    alpha: readNumber(object, 'alpha', where, { default: 8, min: 0 }),
    dropout: readNumber(object, 'dropout', where, { default: 0, min: 0, max: 0.99 }),
    targetModules: readStringArray(object, 'targetModules', where, ['q_proj', 'v_proj']),
  };
}
