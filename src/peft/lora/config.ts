/** LoRA hyperparameters, named and defaulted as in PEFT's LoraConfig (alpha = lora_alpha, dropout = lora_dropout). */
import {
  expectObject,
  readBoolean,
  readNumber,
  readStringArray,
  rejectUnknownKeys,
  type JsonObject,
} from '../../config-validation.js';

export interface LoraConfig {
  /** Rank of the update. */
  readonly r: number;
  /** The update is scaled by alpha / r. */
  readonly alpha: number;
  /** Dropout on the adapter's input (training only). */
  readonly dropout: number;
  /** Module names (last path component, or a full path) to adapt. */
  readonly targetModules: readonly string[];
  /** rsLoRA (Kalajdzievski 2023): scale by α/√r instead of α/r (PEFT's use_rslora). */
  readonly useRslora: boolean;
  /** LoRA+ (Hayou et al. 2024): B trains with this multiple of the learning rate (1 = plain LoRA). */
  readonly loraplusLrRatio: number;
  /** DoRA (Liu et al. 2024): a learned magnitude per output times the normalised adapted weight (PEFT's use_dora). */
  readonly useDora: boolean;
}

export const LORA_KEYS = ['r', 'alpha', 'dropout', 'targetModules', 'useRslora', 'loraplusLrRatio', 'useDora'] as const;

/** The "adapter" section of a preset as an object, with every key outside `known` rejected by name. */
export function adapterSection(
  raw: unknown,
  source: string,
  known: readonly string[],
): { object: JsonObject; where: string } {
  const where = `the "adapter" section of ${source}`;
  const object = expectObject(raw ?? {}, where);
  rejectUnknownKeys(object, known, where);
  return { object, where };
}

/** The LoRA fields of an adapter section; methods built on LoRA (MonteCLoRA) read theirs beside them. */
export function readLoraFields(object: JsonObject, where: string): LoraConfig {
  return {
    r: readNumber(object, 'r', where, { default: 8, min: 1, integer: true }),
    alpha: readNumber(object, 'alpha', where, { default: 8, min: 0 }),
    dropout: readNumber(object, 'dropout', where, { default: 0, min: 0, max: 0.99 }),
    targetModules: readStringArray(object, 'targetModules', where, ['q_proj', 'v_proj']),
    useRslora: readBoolean(object, 'useRslora', where, false),
    loraplusLrRatio: readNumber(object, 'loraplusLrRatio', where, { default: 1, min: 0 }),
    useDora: readBoolean(object, 'useDora', where, false),
  };
}

export function parseLoraConfig(raw: unknown, source: string): LoraConfig {
  const { object, where } = adapterSection(raw, source, LORA_KEYS);
  return readLoraFields(object, where);
}
