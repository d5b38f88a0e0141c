/**
 * A grouped kernel's inputs read back per member: member l's input `name` is `${name}${l}` (`w0`, `n1`, …), the names
 * engine/ops/numbered-inputs.ts gives them.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';

export function numberedMembers<Name extends string>(
  inputs: Readonly<Record<string, TensorInfo | undefined>>,
  count: number,
  names: readonly Name[],
): Record<Name, TensorInfo>[] {
  return Array.from(
    { length: count },
    (_, l) => Object.fromEntries(names.map((name) => [name, inputs[`${name}${l}`]!])) as Record<Name, TensorInfo>,
  );
}
