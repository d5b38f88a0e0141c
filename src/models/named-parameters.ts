/** Parameters under their transformers names, as checkpoints and saved folders list them. */
import type { Variable } from '../engine/tf.js';
import type { Linear } from './layers/linear.js';

export interface NamedParameter {
  readonly name: string;
  readonly variable: Variable;
  /** Stored [in, out] here, [out, in] in a checkpoint. */
  readonly isLinearWeight: boolean;
}

export function namedParameter(name: string, variable: Variable): NamedParameter {
  return { name, variable, isLinearWeight: false };
}

/** A linear layer's weight and (if any) bias. */
export function linearParameters(linear: Linear): NamedParameter[] {
  return [
    { name: `${linear.name}.weight`, variable: linear.weight, isLinearWeight: true },
    ...(linear.bias === undefined ? [] : [namedParameter(`${linear.name}.bias`, linear.bias)]),
  ];
}
