/**
 * A product scaled per output column by a learned magnitude over a detached norm (DoRA), on webgpu:
 * `McevalMagnitudeScale` forms y = addend + z ⊙ (m / n − offset) elementwise (z [rows, out], m and n [out], the addend
 * optional), one dispatch where tfjs's ops took a quotient, a difference, a product and a sum; `McevalMagnitudeScaleGrad`
 * forms both gradients in one — dz = dy ⊙ (m / n − offset) and dm = Σ_rows dy ⊙ z / n — where tfjs's took two products,
 * a transposition and a reduction for the column sums, and a quotient. The gradient's invocations each walk a strided
 * slice of one column's rows (column-lanes.ts), writing dz as they go; a workgroup adds its slices in a fixed order.
 * The gradient takes several scalings over the same rows (the layers of one low-rank op, which DoRA under dropout
 * scales inside their products) side by side along the workgroups, each member's loop written out with its own
 * bindings and chosen once per workgroup, so each column's sum is the one a dispatch of its own forms.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  floatUniform,
  intUniform,
  runShader,
  shaped,
  sizeOf,
  type WebGpuBackendLike,
} from './shader.js';
import { ELEMENTWISE_WORKGROUP } from './elementwise.js';
import { COLUMN_LANES_CODE, COLUMN_WORKGROUP, COLUMNS, LANES } from './column-lanes.js';
import { keptPerNumber } from '../../kept-per-number.js';
import { numberedMembers } from './numbered-members.js';
import { memberName, membersSideBySide } from './low-rank-product-wgsl.js';
import {
  cutJoined,
  inChunksIfRefused,
  joinedOffsets,
  joinsOutputs,
  membersPerDispatch,
  workgroupMemberChoice,
} from './joined-outputs.js';

export const MAGNITUDE_SCALE = 'McevalMagnitudeScale';
export const MAGNITUDE_SCALE_GRAD = 'McevalMagnitudeScaleGrad';

/** Attributes: what is taken from the scale m / n (DoRA under dropout scales by c − 1). */
export interface MagnitudeScaleAttrs {
  readonly offset: number;
}

const forwardCode = (addend: boolean) => `
fn main() {
  let index = ${ELEMENT_INDEX(ELEMENTWISE_WORKGROUP)};
  if (index < uniforms.count) {
    let j = index % uniforms.columns;
    result[index] = ${addend ? 'addend[index] + ' : ''}z[index] * (m[j] / n[j] - uniforms.offset);
  }
}
`;

/** Member l's dz binding: the shader's output for the first member, a writable input for the others. */
const dzName = (l: number) => (l === 0 ? 'result' : memberName('dz', l));

/**
 * Member l's work, written out with its own bindings: its lane's rows of dz = dy ⊙ (m / n − offset), returning the
 * lane's sum of dy ⊙ z; and `finish<l>`, which stores its column's dm = total / n, into its own binding or at its
 * offset in the joined one.
 */
const memberGradientCode = (l: number, joined: boolean) => {
  const [dy, z, m, n] = ['dy', 'z', 'm', 'n'].map((name) => memberName(name, l));
  const columns = `uniforms.${memberName('columns', l)}`;
  const dm = joined ? `dm[uniforms.${memberName('dmAt', l)} + at.j]` : `${memberName('dm', l)}[at.j]`;
  return `
fn lanes${l}(at : ColumnLane) -> f32 {
  var sum = 0.0;
  if (at.j < ${columns}) {
    let factor = ${m}[at.j] / ${n}[at.j] - uniforms.offset;
    for (var i = at.lane; i < uniforms.rows; i += ${LANES}) {
      let index = i * ${columns} + at.j;
      ${dzName(l)}[index] = ${dy}[index] * factor;
      sum += ${dy}[index] * ${z}[index];
    }
  }
  return sum;
}

fn finish${l}(at : ColumnLane, total : f32) {
  if (at.lane == 0 && at.j < ${columns}) {
    ${dm} = total / ${n}[at.j];
  }
}`;
};

/**
 * The members' columns side by side along the workgroups (member l's from uniform firstTile<l> on): each workgroup
 * takes its member once, from its index, then walks that member's columns.
 */
const gradientCode = (members: number, joined: boolean) => {
  const choices = workgroupMemberChoice(members);
  const byLayer = (call: (l: number) => string) =>
    Array.from({ length: members }, (_, l) => `if (layer == ${l}) {\n    ${call(l)}\n  }`).join(' else ');
  return `${COLUMN_LANES_CODE}
${Array.from({ length: members }, (_, l) => memberGradientCode(l, joined)).join('\n')}
fn main() {
  var layer = 0;
  var firstTile = 0;${choices}
  let at = columnLane(firstTile);
  var sum = 0.0;
  ${byLayer((l) => `sum = lanes${l}(at);`)}
  let total = columnSum(sum, at.column);
  ${byLayer((l) => `finish${l}(at, total);`)}
}
`;
};

const columnsOf = (z: TensorInfo) => z.shape.at(-1)!;
const offsetOf = (attrs: unknown) => (attrs as MagnitudeScaleAttrs).offset;

/** Inputs: z, m, n, and optionally addend (shaped like z); output shaped like z. */
const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { z, m, n, addend } = inputs as Record<'z' | 'm' | 'n', TensorInfo> & { addend?: TensorInfo };
  const count = sizeOf(z);
  const given = addend === undefined ? [z, m, n] : [z, m, n, addend];
  const output = runShader(
    backend as unknown as WebGpuBackendLike,
    {
      key: `McevalMagnitudeScale${addend === undefined ? '' : 'Plus'}`,
      inputs: ['z', 'm', 'n', 'addend'].slice(0, given.length).map((name) => ({ name, components: 1 as const })),
      uniforms: 'count : i32, columns : i32, offset : f32,',
      workgroupSize: ELEMENTWISE_WORKGROUP,
      dispatch: elementwiseDispatch(count, ELEMENTWISE_WORKGROUP),
      outputSize: count,
      code: () => forwardCode(addend !== undefined),
    },
    given,
    [intUniform(count), intUniform(columnsOf(z)), floatUniform(offsetOf(attrs))],
  );
  return shaped(output, [...z.shape]);
};

/** Attributes of the gradient: the scale's offset, and how many members (layers) the call holds. */
export interface MagnitudeScaleGradAttrs extends MagnitudeScaleAttrs {
  readonly members: number;
}

type GradientMember = Record<'dy' | 'z' | 'm' | 'n', TensorInfo>;

/** Storage buffers a member binds besides its dm: dy, z, m, n and dz (joined-outputs.ts). */
const MEMBER_BINDINGS = 5;

/**
 * The most members one gradient dispatch takes on this device: three at 16 storage buffers (a decoder layer's q, k
 * and v) with their dm joined, two each with its own (joined-outputs.ts).
 */
export const magnitudeGradientsPerDispatch = (backend: WebGpuBackendLike): number =>
  membersPerDispatch(backend, MEMBER_BINDINGS);

/** Fields after tfjs's: rows, offset, the first member's width, then each other member's and its first workgroup. */
const gradientUniformFields = keptPerNumber((key) => {
  const [members, joined] = [key >> 1, (key & 1) === 1];
  const fields = [`rows : i32, offset : f32, columns : i32,${joined ? ' dmAt : i32,' : ''}`];
  for (let l = 1; l < members; l++)
    fields.push(`columns${l} : i32, firstTile${l} : i32,${joined ? ` dmAt${l} : i32,` : ''}`);
  return fields.join(' ');
});

/**
 * One dispatch's [dz…, dm…] for `members`, with a dm binding each or one joined and then cut by copies; undefined
 * (nothing left behind) where the copies are refused.
 */
function runGradients(
  gpu: WebGpuBackendLike,
  members: readonly GradientMember[],
  offset: number,
): TensorInfo[] | undefined {
  const count = members.length;
  const columns = members.map((member) => columnsOf(member.z));
  const rows = sizeOf(members[0]!.z) / columns[0]!;
  if (members.some((member, l) => sizeOf(member.z) !== rows * columns[l]!))
    throw new Error(`${MAGNITUDE_SCALE_GRAD}: members with different rows`);
  const joined = joinsOutputs(gpu, count, MEMBER_BINDINGS);
  const { firstTiles, columnTiles } = membersSideBySide(columns, COLUMNS);
  const dmAt = joinedOffsets(columns);
  const dzs = columns.slice(1).map((width) => gpu.makeTensorInfo([rows * width], 'float32'));
  const dms = joined
    ? [gpu.makeTensorInfo([dmAt[count - 1]! + columns[count - 1]!], 'float32')]
    : columns.map((width) => gpu.makeTensorInfo([width], 'float32'));
  const written = (name: string) => ({ name, components: 1 as const, writable: true });
  const first = runShader(
    gpu,
    {
      key: `${MAGNITUDE_SCALE_GRAD}_${count}${joined ? 'j' : ''}`,
      inputs: [
        ...members.flatMap((_, l) =>
          ['dy', 'z', 'm', 'n'].map((name) => ({ name: memberName(name, l), components: 1 as const })),
        ),
        ...dzs.map((_, k) => written(dzName(k + 1))),
        ...dms.map((_, l) => written(memberName('dm', l))),
      ],
      uniforms: gradientUniformFields(count * 2 + Number(joined)),
      workgroupSize: COLUMN_WORKGROUP,
      dispatch: [columnTiles, 1],
      outputSize: rows * columns[0]!,
      code: () => gradientCode(count, joined),
    },
    [...members.flatMap((member) => [member.dy, member.z, member.m, member.n]), ...dzs, ...dms],
    [
      intUniform(rows),
      floatUniform(offset),
      intUniform(columns[0]!),
      ...(joined ? [intUniform(0)] : []),
      ...columns
        .slice(1)
        .flatMap((width, k) => [
          intUniform(width),
          intUniform(firstTiles[k + 1]!),
          ...(joined ? [intUniform(dmAt[k + 1]!)] : []),
        ]),
    ],
  );
  const dz = [first, ...dzs].map((info, l) => shaped(info, [...members[l]!.z.shape]));
  if (!joined) return [...dz, ...dms];
  const dm = cutJoined(gpu, dms[0]!, columns);
  if (dm === undefined) dz.forEach((info) => gpu.disposeData(info.dataId));
  return dm === undefined ? undefined : [...dz, ...dm];
}

/**
 * Inputs, per member l: dy<l>, z<l> (the same shape, the same rows for all), m<l>, n<l>; outputs each member's dz,
 * then each one's dm. Where a joined dm's copies are refused, the members run as many to a dispatch as bind their own.
 */
const gradient: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const { offset, members: count } = attrs as unknown as MagnitudeScaleGradAttrs;
  const members = numberedMembers(inputs as Record<string, TensorInfo>, count, ['dy', 'z', 'm', 'n']);
  if (count > magnitudeGradientsPerDispatch(gpu)) throw new Error(`${MAGNITUDE_SCALE_GRAD}: more members than bind`);
  return inChunksIfRefused(gpu, members, MEMBER_BINDINGS, 2, (chunk) => runGradients(gpu, chunk, offset));
};

export function webGpuMagnitudeScaleKernels(): KernelConfig[] {
  return [
    { kernelName: MAGNITUDE_SCALE, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: MAGNITUDE_SCALE_GRAD, backendName: 'webgpu', kernelFunc: gradient },
  ];
}
