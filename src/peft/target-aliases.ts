/**
 * Adapter presets name their targets as a Llama decoder's modules (q_proj … down_proj). A model whose modules are
 * named otherwise (BERT, RoBERTa) says what each of those names is called there, and a preset's `targetModules` and
 * `feedforwardModules` are read through that table: the same preset adapts the same roles in either family. Names the
 * table does not hold (a preset written for the encoder: "query", "value") pass unchanged.
 */
import type { Model } from '../models/model.js';

const TARGET_KEYS = ['targetModules', 'feedforwardModules'] as const;

/** The targets as the model names them, each once, in the preset's order. */
function aliasTargets(targets: readonly string[], aliases: ReadonlyMap<string, readonly string[]>): string[] {
  return [...new Set(targets.flatMap((target) => aliases.get(target) ?? [target]))];
}

/** The adapter config with its target lists in the model's names (the config itself when nothing changes). */
export function adapterConfigFor<Config>(model: Model, config: Config): Config {
  const aliases = 'targetAliases' in model ? model.targetAliases() : undefined;
  if (aliases === undefined || typeof config !== 'object' || config === null) return config;
  const record = config as Record<string, unknown>;
  const renamed = Object.fromEntries(
    TARGET_KEYS.flatMap((key) => {
      const value = record[key];
      return Array.isArray(value) ? [[key, aliasTargets(value as string[], aliases)]] : [];
    }),
  );
  return Object.keys(renamed).length === 0 ? config : ({ ...record, ...renamed } as Config);
}
