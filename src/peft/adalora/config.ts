/**
 * AdaLoRA hyperparameters, named and defaulted as PEFT's AdaLoraConfig (init_r 12 → target_r 8, tinit = tfinal = 0,
 * deltaT 1, β₁ = β₂ = 0.85, orth_reg_weight 0.5 — also the values of the paper's scripts, docs/monteclora.md §7).
 */
import { readNumber, readStringArray } from '../../config-validation.js';
import { adapterSection } from '../lora/config.js';

export interface AdaLoraConfig {
  /** Triplets per layer at the start (PEFT's init_r). */
  readonly initR: number;
  /** Average triplets per layer kept at the end (target_r); the budget is targetR × layers. */
  readonly targetR: number;
  /** The update is scaled by alpha / (initR + 1e-5), whatever rank remains. */
  readonly alpha: number;
  readonly dropout: number;
  readonly targetModules: readonly string[];
  /** Steps of warm-up with the full budget. */
  readonly tinit: number;
  /** Final steps with the budget fixed at the target (the mask frozen). */
  readonly tfinal: number;
  /** Budget reallocation every deltaT steps. */
  readonly deltaT: number;
  /** EMA coefficient of the sensitivity |θ·∇θ|. */
  readonly beta1: number;
  /** EMA coefficient of its uncertainty. */
  readonly beta2: number;
  /** γ: weight of the orthogonality regulariser. */
  readonly orthRegWeight: number;
}

export const ADALORA_KEYS = [
  'initR',
  'targetR',
  'alpha',
  'dropout',
  'targetModules',
  'tinit',
  'tfinal',
  'deltaT',
  'beta1',
  'beta2',
  'orthRegWeight',
] as const;

/** The scalar settings under PEFT's AdaLoraConfig names: results.csv columns and adapter_config.json fields. */
export function peftAdaLoraFields(config: AdaLoraConfig): Record<string, number> {
  return {
    init_r: config.initR,
    target_r: config.targetR,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    tinit: config.tinit,
    tfinal: config.tfinal,
    deltaT: config.deltaT,
    beta1: config.beta1,
    beta2: config.beta2,
    orth_reg_weight: config.orthRegWeight,
  };
}

export function parseAdaLoraConfig(raw: unknown, source: string): AdaLoraConfig {
  const { object, where } = adapterSection(raw, source, ADALORA_KEYS);
  const initR = readNumber(object, 'initR', where, { default: 12, min: 1, integer: true });
  const beta = (key: string) => readNumber(object, key, where, { default: 0.85, min: 1e-9, max: 1 - 1e-9 });
  return {
    initR,
    targetR: readNumber(object, 'targetR', where, { default: 8, min: 0, max: initR, integer: true }),
    alpha: readNumber(object, 'alpha', where, { default: 8, min: 0 }),
    dropout: readNumber(object, 'dropout', where, { default: 0, min: 0, max: 0.99 }),
    targetModules: readStringArray(object, 'targetModules', where, ['q_proj', 'v_proj']),
    tinit: readNumber(object, 'tinit', where, { default: 0, min: 0, integer: true }),
    tfinal: readNumber(object, 'tfinal', where, { default: 0, min: 0, integer: true }),
    deltaT: readNumber(object, 'deltaT', where, { default: 1, min: 1, integer: true }),
    beta1: beta('beta1'),
    beta2: beta('beta2'),
    orthRegWeight: readNumber(object, 'orthRegWeight', where, { default: 0.5, min: 0 }),
  };
}
