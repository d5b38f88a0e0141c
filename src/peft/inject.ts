/** Finds the linear layers an adapter targets, by module name, as PEFT's target_modules does. */
import { UserError } from '../errors.js';
import type { Linear, LinearAdapter } from '../models/layers/linear.js';
import type { Variable } from '../engine/tf.js';

/** A target matches a module whose full name equals it or ends with ".target". */
export function matchesTarget(moduleName: string, target: string): boolean {
  return moduleName === target || moduleName.endsWith(`.${target}`);
}

export function findTargetLinears(linears: readonly Linear[], targets: readonly string[]): Linear[] {
  const matched = linears.filter((layer) => targets.some((target) => matchesTarget(layer.name, target)));
  const unmatched = targets.filter((target) => !linears.some((layer) => matchesTarget(layer.name, target)));
  if (unmatched.length > 0) {
    const available = [...new Set(linears.map((layer) => layer.name.split('.').pop()!))].join(', ');
    throw new UserError(
      `Target modules not found in the model: ${unmatched.join(', ')}. Its linear layers are: ${available}.`,
    );
  }
  return matched;
}

/**
 * Puts one adapter layer, made by `make`, into every targeted linear layer; `remove` takes them out again and frees
 * their variables.
 */
export function injectAdapterLayers<L extends LinearAdapter & { variables(): Variable[] }>(
  linears: readonly Linear[],
  targets: readonly string[],
  make: (target: Linear) => L,
): { layers: L[]; remove: () => void } {
  const matched = findTargetLinears(linears, targets);
  const layers = matched.map((target) => {
    const layer = make(target);
    target.adapter = layer;
    return layer;
  });
  return {
    layers,
    remove() {
      matched.forEach((target) => (target.adapter = undefined));
      layers.forEach((layer) => layer.variables().forEach((variable) => variable.dispose()));
    },
  };
}
