/**
 * The GPU benchmarks' adapters and their training step: r 8 on every linear layer — LoRA without dropout and with the
 * presets' 0.05, DoRA as its preset has it, MonteCLoRA, and full fine-tuning — on a decoder (its causal-LM step) or an
 * encoder (a classification step, the presets' targets read as its modules).
 */
import type { Model } from '../../src/models/model.js';
import type { Rng } from '../../src/engine/rng.js';
import type { AdapterMethod, AppliedAdapter } from '../../src/peft/types.js';
import { EncoderModel } from '../../src/models/encoder/model.js';
import { adapterConfigFor } from '../../src/peft/target-aliases.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { monteCloraMethod } from '../../src/peft/monteclora/index.js';
import { parseMonteCloraConfig } from '../../src/peft/monteclora/config.js';
import { fullFineTuningMethod } from '../../src/peft/full/index.js';
import { causalLmStep, classificationStepLoss, type CausalLmStep } from '../../src/train/synthetic-step.js';

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const MONTECLORA = parseMonteCloraConfig({ r: 8, alpha: 16, dropout: 0, targetModules: TARGETS }, 'bench');
export const LORA = parseLoraConfig({ r: 8, alpha: 16, dropout: 0, targetModules: TARGETS }, 'bench');
// The adapter presets' dropout: a mask per adapted layer and step.
export const LORA_DROPOUT = parseLoraConfig({ r: 8, alpha: 16, dropout: 0.05, targetModules: TARGETS }, 'bench');
// DoRA as its preset has it (dropout 0.05).
export const DORA = parseLoraConfig({ r: 8, alpha: 16, dropout: 0.05, targetModules: TARGETS, useDora: true }, 'bench');

export type Method = 'lora' | 'lora-dropout' | 'dora' | 'monteclora' | 'full';

/** Each adapted method's adapter and config, as the benchmark's steps have it (r 8 on every linear layer). */
const ADAPTERS: Record<Exclude<Method, 'full'>, { method: AdapterMethod<unknown>; config: unknown }> = {
  lora: { method: loraMethod, config: LORA },
  'lora-dropout': { method: loraMethod, config: LORA_DROPOUT },
  dora: { method: loraMethod, config: DORA },
  monteclora: { method: monteCloraMethod, config: MONTECLORA },
};

/** `method`'s adapter, configured for `model`'s layer names. */
function adapterOf(model: Model, method: Exclude<Method, 'full'>) {
  const { method: adapter, config } = ADAPTERS[method];
  return { adapter, config: adapterConfigFor(model, config) };
}

/** `method`'s adapter applied to `model` (as the benchmark's steps apply it, but with `rng`). */
export function applyStepAdapter(model: Model, method: Exclude<Method, 'full'>, rng: Rng): AppliedAdapter {
  const { adapter, config } = adapterOf(model, method);
  return adapter.apply(model, config, rng);
}

/** The benchmark's step of `method` on `model`: batch × length tokens, its data and adapter drawn from `seed`. */
export function stepper(model: Model, batch: number, length: number, seed: number, method: Method): CausalLmStep {
  const settings = { batch, length, seed, ...(model instanceof EncoderModel ? { loss: classificationStepLoss } : {}) };
  if (method === 'full') return causalLmStep(model, fullFineTuningMethod, {}, settings);
  const { adapter, config } = adapterOf(model, method);
  return causalLmStep(model, adapter, config, settings);
}
