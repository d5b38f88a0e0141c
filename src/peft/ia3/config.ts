/** IA3 hyperparameters, as PEFT's IA3Config: which layers to scale, and which of them are feed-forward layers. */
import { readStringArray } from '../../config-validation.js';
import { adapterSection } from '../lora/config.js';

export interface Ia3Config {
  readonly targetModules: readonly string[];
  /** Targets whose input, not output, is scaled (PEFT's feedforward_modules). */
  readonly feedforwardModules: readonly string[];
}

export function parseIa3Config(raw: unknown, source: string): Ia3Config {
  const { object, where } = adapterSection(raw, source, ['targetModules', 'feedforwardModules']);
  return {
    targetModules: readStringArray(object, 'targetModules', where, ['k_proj', 'v_proj', 'down_proj']),
    feedforwardModules: readStringArray(object, 'feedforwardModules', where, ['down_proj']),
  };
}
