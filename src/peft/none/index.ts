/**
 * The baseline "method": nothing is injected and nothing trains, so `--adapter none` evaluates the base model as
 * loaded — the zero-shot row beside the fine-tuned ones. It has one run per task (no grid: no learning rate or batch
 * size applies). A classification task's head is untrained there, so its accuracy is the untrained head's.
 */
import type { AdapterMethod, AppliedAdapter } from '../types.js';
import { adapterSection } from '../lora/config.js';

export type NoAdapterConfig = Record<string, never>;

export const noAdapterMethod: AdapterMethod<NoAdapterConfig> = {
  name: 'none',
  description: 'No adapter: the base model evaluated without fine-tuning (the zero-shot baseline)',
  evaluatesOnly: true,
  parseConfig(raw, source) {
    adapterSection(raw, source, []);
    return {};
  },
  apply(): AppliedAdapter {
    return { method: 'none', groups: [], hyperparameters: {}, dispose() {} };
  },
};
