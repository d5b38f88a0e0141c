/** Every adapter method mceval knows, by the name a preset's "method" field uses. */
import type { AdapterMethod } from './types.js';
import { loraMethod } from './lora/index.js';
import { monteCloraMethod } from './monteclora/index.js';
import { fullFineTuningMethod } from './full/index.js';
import { ia3Method } from './ia3/index.js';
import { promptTuningMethod } from './prompt-tuning/index.js';
import { adaLoraMethod } from './adalora/index.js';
import { noAdapterMethod } from './none/index.js';

// Each method validates its own config type; the registry erases it, since presets are parsed and applied together.
export const ADAPTER_METHODS: Readonly<Record<string, AdapterMethod<unknown>>> = {
  lora: loraMethod as AdapterMethod<unknown>,
  monteclora: monteCloraMethod as AdapterMethod<unknown>,
  full: fullFineTuningMethod as AdapterMethod<unknown>,
  ia3: ia3Method as AdapterMethod<unknown>,
  'prompt-tuning': promptTuningMethod as AdapterMethod<unknown>,
  adalora: adaLoraMethod as AdapterMethod<unknown>,
  none: noAdapterMethod as AdapterMethod<unknown>,
};
