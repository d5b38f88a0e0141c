/**
 * The GPU benchmarks' adapters and their training step: r 8 on every linear layer — LoRA without dropout and with the
 * presets' 0.05, DoRA as its preset has it, MonteCLoRA, and full fine-tuning — on a decoder (its causal-LM step) or an
 * encoder (a classification step, the presets' targets read as its modules).
 */
import type { Model } from '../../src/models/model.js';
import { EncoderModel } from '../../src/models/encoder/model.js';
import { adapterConfigFor } from '../../src/peft/target-aliases.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { monteCloraMethod } from '../../src/peft/monteclora/index.js';
import { parseMonteCloraConfig } from '../../src/peft/monteclora/config.js';
import { fullFineTuningMethod } from '../../src/peft/full/index.js';
import { causalLmStep, classificationStepLoss, type CausalLmStep } from '../causal-lm-step.js';

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
export const MONTECLORA = parseMonteCloraConfig({ r: 8, alpha: 16, dropout: 0, targetModules: TARGETS }, 'bench');
export const LORA = parseLoraConfig({ r: 8, alpha: 16, dropout: 0, targetModules: TARGETS }, 'bench');
// The adapter presets' dropout: a mask per adapted layer and step.
export const LORA_DROPOUT = parseLoraConfig({ r: 8, alpha: 16, dropout: 0.05, targetModules: TARGETS }, 'bench');
// DoRA as its preset has it (dropout 0.05).
export const DORA = parseLoraConfig({ r: 8, alpha: 16, dropout: 0.05, targetModules: TARGETS, useDora: true }, 'bench');

export type Method = 'lora' | 'lora-dropout' | 'dora' | 'monteclora' | 'full';

const LORA_CONFIGS = { lora: LORA, 'lora-dropout': LORA_DROPOUT, dora: DORA } as const;

/** The benchmark's step of `method` on `model`: batch × length tokens, its data and adapter drawn from `seed`. */
export function stepper(model: Model, batch: number, length: number, seed: number, method: Method): CausalLmStep {
  const settings = { batch, length, seed, ...(model instanceof EncoderModel ? { loss: classificationStepLoss } : {}) };
  if (method === 'full') return causalLmStep(model, fullFineTuningMethod, {}, settings);
  return method === 'monteclora'
    ? causalLmStep(model, monteCloraMethod, adapterConfigFor(model, MONTECLORA), settings)
    : causalLmStep(model, loraMethod, adapterConfigFor(model, LORA_CONFIGS[method]), settings);
}
