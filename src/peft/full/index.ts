/** Full fine-tuning as an adapter method: every parameter of the model trains (the baseline PEFT methods are measured against). */
import type { AdapterMethod, AppliedAdapter } from '../types.js';
import { adapterSection } from '../lora/config.js';

export type FullFineTuningConfig = Record<string, never>;

export const fullFineTuningMethod: AdapterMethod<FullFineTuningConfig> = {
  name: 'full',
  description: 'Full fine-tuning: every weight of the model trains',
  parseConfig(raw, source) {
    adapterSection(raw, source, []);
    return {};
  },
  apply(model): AppliedAdapter {
    // The classification head, if any, is trained by the caller in its own group.
    const head = new Set(model.headVariables());
    const variables = model.variables().filter((variable) => !head.has(variable));
    variables.forEach((variable) => (variable.trainable = true));
    return {
      method: 'full',
      groups: [{ name: 'full', variables, learningRateMultiplier: 1 }],
      hyperparameters: {},
      dispose() {
        variables.forEach((variable) => (variable.trainable = false));
      },
    };
  },
};
