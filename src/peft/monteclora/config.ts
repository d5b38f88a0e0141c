/**
 * MonteCLoRA hyperparameters (docs/monteclora.md §4, the recommended TypeScript defaults) on top of LoRA's, and the
 * four switches that reproduce the published reference code's deviations from the paper (all off by default).
 */
import { readBoolean, readNumber } from '../../config-validation.js';
import { adapterSection, LORA_KEYS, readLoraFields, type LoraConfig } from '../lora/config.js';

export interface MonteCloraConfig extends LoraConfig {
  /** N: mixture components, also the inner Monte Carlo samples. */
  readonly components: number;
  /** ε: scale of the sampled perturbation of A. */
  readonly sampleScaler: number;
  /** β: weight of the KL terms (the cooperative loss is not weighted). */
  readonly klWeight: number;
  /** α⁰: concentration of the symmetric Dirichlet prior. */
  readonly dirichletPrior: number;
  /** Add the cooperative loss Σw². */
  readonly cooperativeLoss: boolean;
  /** Noise draws made ahead, in one batch (served in order, never reused). */
  readonly bufferSize: number;
  /** REF-BUG-1: ε applied twice. */
  readonly doubleScale: boolean;
  /** REF-BUG-2: the perturbed A replaces A without a gradient path (A random-walks; A, s, p get no task gradient). */
  readonly detachPerturbedA: boolean;
  /** REF-BUG-3: s and p are never trained. */
  readonly freezePriors: boolean;
  /** REF-BUG-4: the Dirichlet KL with +Σ[lnΓ(α_k) − lnΓ(α⁰_k)]. */
  readonly dirichletKlReferenceSign: boolean;
}

const SWITCHES = ['doubleScale', 'detachPerturbedA', 'freezePriors', 'dirichletKlReferenceSign'] as const;
const KEYS = [
  ...LORA_KEYS,
  'components',
  'sampleScaler',
  'klWeight',
  'dirichletPrior',
  'cooperativeLoss',
  'bufferSize',
  ...SWITCHES,
] as const;

export function parseMonteCloraConfig(raw: unknown, source: string): MonteCloraConfig {
  const { object, where } = adapterSection(raw, source, KEYS);
  return {
    ...readLoraFields(object, where),
    components: readNumber(object, 'components', where, { default: 4, min: 1, integer: true }),
    sampleScaler: readNumber(object, 'sampleScaler', where, { default: 5e-3, min: 0 }),
    klWeight: readNumber(object, 'klWeight', where, { default: 1e-5, min: 0 }),
    dirichletPrior: readNumber(object, 'dirichletPrior', where, { default: 1, min: 1e-6 }),
    cooperativeLoss: readBoolean(object, 'cooperativeLoss', where, true),
    bufferSize: readNumber(object, 'bufferSize', where, { default: 15, min: 1, integer: true }),
    doubleScale: readBoolean(object, 'doubleScale', where, false),
    detachPerturbedA: readBoolean(object, 'detachPerturbedA', where, false),
    freezePriors: readBoolean(object, 'freezePriors', where, false),
    dirichletKlReferenceSign: readBoolean(object, 'dirichletKlReferenceSign', where, false),
  };
}
