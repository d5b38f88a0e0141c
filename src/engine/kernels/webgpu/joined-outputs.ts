/**
 * Grouped kernels whose members each write a small output (DoRA's weight norms, its magnitudes' gradients): each
 * member binds its inputs and, where the device binds them, an output of its own; else the members' outputs are one
 * joined buffer that the GPU's copies cut apart after the dispatch (buffer-copies.ts), one binding for all — so one
 * dispatch takes more members. Under MCEVAL_WEBGPU_JOINS=shaders, or where the copies are refused, each member has its
 * own.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { joinsSetting, partsByCopies } from './buffer-copies.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from './shader.js';

/** The most members a dispatch binds with an output each, each binding `memberBindings` buffers besides. */
export const ownOutputsPerDispatch = (backend: WebGpuBackendLike, memberBindings: number): number =>
  Math.max(1, Math.floor(storageBuffersPerShader(backend) / (memberBindings + 1)));

/** The most members a dispatch takes: with an output each, or one joined where copies cut it apart. */
export function membersPerDispatch(backend: WebGpuBackendLike, memberBindings: number): number {
  const joined = joinsSetting() === 'copies' ? Math.floor((storageBuffersPerShader(backend) - 1) / memberBindings) : 0;
  return Math.max(ownOutputsPerDispatch(backend, memberBindings), joined);
}

/** Whether a dispatch of `members` joins their outputs: they do not bind with an output each. */
export const joinsOutputs = (backend: WebGpuBackendLike, members: number, memberBindings: number): boolean =>
  members > ownOutputsPerDispatch(backend, memberBindings);

/** Where each member's part of a joined output of these widths starts. */
export const joinedOffsets = (widths: readonly number[]): number[] =>
  widths.map((_, l) => widths.slice(0, l).reduce((sum, width) => sum + width, 0));

/** The joined output cut into the members' [width] parts by copies, and freed; undefined where copies are refused. */
export function cutJoined(
  backend: WebGpuBackendLike,
  joined: TensorInfo,
  widths: readonly number[],
): TensorInfo[] | undefined {
  const parts = partsByCopies(
    backend,
    joined,
    widths.map((width) => [width]),
  );
  backend.disposeData(joined.dataId);
  return parts;
}

/**
 * A grouped kernel's outputs: `run`'s for all the members at once, or, where that returns undefined (a joined output's
 * copies refused), `run`'s for chunks of as many as bind their own outputs, each output kind's parts in member order
 * (`kinds` outputs a member: [kind 0 of every member, kind 1 of every member, …]).
 */
export function inChunksIfRefused<Member>(
  backend: WebGpuBackendLike,
  members: readonly Member[],
  memberBindings: number,
  kinds: number,
  run: (members: readonly Member[]) => TensorInfo[] | undefined,
): TensorInfo[] {
  const together = run(members);
  if (together !== undefined) return together;
  const most = ownOutputsPerDispatch(backend, memberBindings);
  const chunks: TensorInfo[][] = [];
  for (let first = 0; first < members.length; first += most) chunks.push(run(members.slice(first, first + most))!);
  return Array.from({ length: kinds }, (_, kind) =>
    chunks.flatMap((chunk) => chunk.slice((kind * chunk.length) / kinds, ((kind + 1) * chunk.length) / kinds)),
  ).flat();
}

/**
 * WGSL in main() choosing the workgroup's member from uniforms firstTile<l> (members' tiles side by side along x):
 * `layer` and `firstTile` (variables main declares), and `fields`' variables from their uniforms `<field><l>`.
 */
export function workgroupMemberChoice(members: number, fields: readonly string[] = []): string {
  return Array.from({ length: members - 1 }, (_, k) => {
    const assignments = [`layer = ${k + 1};`, ...['firstTile', ...fields].map((f) => `${f} = uniforms.${f}${k + 1};`)];
    return `
  if (i32(workgroupId.x) >= uniforms.firstTile${k + 1}) {
    ${assignments.join('\n    ')}
  }`;
  }).join('');
}
