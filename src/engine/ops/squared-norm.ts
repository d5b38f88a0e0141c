/**
 * Σ_t Σ x² over a list of tensors (a global gradient norm, a diagnostic's norms), and the global norm with
 * clip_grad_norm_'s coefficient. On the host backends, per tensor in list order (the sums recorded results were made
 * with), the norm and coefficient composed by the caller. On WebGPU, where every op is a dispatch, the tensors are
 * flattened and joined in groups of up to 2²² values (by buffer copies: ops/joins), and mceval's kernel sums each
 * group's squares in one dispatch, the last of them finishing the sum, norm or coefficient
 * (kernels/webgpu/squared-sum.ts): a hundred LoRA gradients cost one join and one dispatch; the copy stays bounded for
 * large parameters. `normOnDevice` hands the joined groups to its caller, with where each tensor is in them: AdamW's
 * kernel reads a step's gradients there (train/clip.ts, train/adamw.ts) rather than copy them into joins of its own.
 */
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Scalar, type Tensor } from '../tf.js';
import { readsSynchronously } from '../host-reads.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { SQUARED_SUM, type SquaredSumAttrs } from '../kernels/webgpu/squared-sum.js';
import { sumAll } from './sum-all.js';

const GROUP_VALUES = 1 << 22;

/** Whether the list's sums are taken on the device by mceval's kernel (webgpu) rather than per tensor in order. */
const onDevice = (tensors: readonly Tensor[]) => tensors.length > 0 && !readsSynchronously() && hasKernel(SQUARED_SUM);

/**
 * Tensors flattened and joined into groups (`groups`, each flat), and where each tensor's values are in them: `placeOf`
 * gives its group's number and its first value's position there, undefined for a tensor not joined.
 */
export interface JoinedTensors {
  readonly groups: readonly Tensor[];
  placeOf(tensor: Tensor): { readonly group: number; readonly at: number } | undefined;
}

/** The tensors flattened and joined in list order, in groups of at most `groupValues` values (or one larger tensor). */
function joinedGroups(tensors: readonly Tensor[], groupValues: number): JoinedTensors {
  const members: Tensor[][] = [];
  const places = new Map<Tensor, { group: number; at: number }>();
  let size = Infinity;
  for (const tensor of tensors) {
    if (size + tensor.size > groupValues) {
      members.push([]);
      size = 0;
    }
    members.at(-1)!.push(tensor);
    places.set(tensor, { group: members.length - 1, at: size });
    size += tensor.size;
  }
  const flat = (t: Tensor) => tf.reshape(t, [-1]);
  const groups = tf.tidy(() =>
    members.map((group) => (group.length === 1 ? flat(group[0]!) : tf.concat(group.map(flat)))),
  );
  return { groups, placeOf: (tensor) => places.get(tensor) };
}

/** The kernel's outputs for the joined groups (squared-sum.ts). */
function sumsOfGroups(groups: readonly Tensor[], attrs: SquaredSumAttrs): Tensor[] {
  const inputs = Object.fromEntries(groups.map((group, g) => [`x${g}`, group])) as NamedTensorMap;
  const outputs = tf.engine().runKernel(SQUARED_SUM, inputs, attrs as unknown as NamedAttrMap);
  return Array.isArray(outputs) ? (outputs as Tensor[]) : [outputs as Tensor];
}

/** Σ_t Σ x²; `groupValues` bounds the joined groups on the device (a test sets it low). */
export function squaredNorm(tensors: readonly Tensor[], groupValues = GROUP_VALUES): Scalar {
  if (onDevice(tensors))
    return tf.tidy(() => sumsOfGroups(joinedGroups(tensors, groupValues).groups, { finish: 'sum' })[0] as Scalar);
  return sumAll(tensors.map((t) => tf.sum(tf.square(t)))) as Scalar;
}

/**
 * On the device (see the module comment), the global norm of the tensors and, for `maxNorm` > 0, the coefficient
 * min(1, maxNorm / (norm + 1e-6)), with the joined tensors they were summed from (the caller's to dispose, or its
 * tidy's); undefined elsewhere, where the caller composes them from squaredNorm.
 */
export function normOnDevice(
  tensors: readonly Tensor[],
  maxNorm: number,
  groupValues = GROUP_VALUES,
): { norm: Tensor; coefficient?: Tensor; joined: JoinedTensors } | undefined {
  if (!onDevice(tensors)) return undefined;
  const joined = joinedGroups(tensors, groupValues);
  if (maxNorm <= 0) return { norm: sumsOfGroups(joined.groups, { finish: 'norm' })[0]!, joined };
  const [norm, coefficient] = sumsOfGroups(joined.groups, { finish: 'clip', maxNorm });
  return { norm: norm!, coefficient: coefficient!, joined };
}
