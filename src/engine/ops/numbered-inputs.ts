/**
 * A kernel's inputs for a list of members (layers of a group, widths of a draw), each member's under its name and
 * index (`w0`, `n1`, …) — the names mceval's grouped webgpu kernels read them by. Inputs left undefined are not
 * passed.
 */
import type { Tensor } from '../tf.js';

export function numberedInputs(
  members: readonly Readonly<Record<string, Tensor | undefined>>[],
): Record<string, Tensor> {
  const inputs: Record<string, Tensor> = {};
  members.forEach((member, l) => {
    for (const [name, tensor] of Object.entries(member)) if (tensor !== undefined) inputs[`${name}${l}`] = tensor;
  });
  return inputs;
}
