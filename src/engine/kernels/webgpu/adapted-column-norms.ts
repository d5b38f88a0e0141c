/**
 * `McevalAdaptedColumnNorms` on webgpu: the norm of each column of a low-rank-adapted weight, ‖W + s·A·B‖ per output
 * (DoRA's weight norm), in one dispatch that never forms the [in, out] matrix — for one layer, or for several (a
 * DoRA adapter's layers, members side by side along the workgroups, as many as the device binds: W, A and B each,
 * and an output each or one joined for all, cut apart by the GPU's copies).
 * As tfjs ops it was a product, a scaling, a sum and the norm's own three or four dispatches per layer and step,
 * through an [in, out] tensor. Each invocation walks a strided slice of one column's rows (column-lanes.ts), forming
 * each element as the ops did ((A·B)·s + W: the rank summed in order), and a workgroup adds its slices in a fixed order.
 * Not differentiable (DoRA detaches the norm).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { floatUniform as float, intUniform as int, runShader, shaped, type WebGpuBackendLike } from './shader.js';
import { keptPerNumber } from '../../kept-per-number.js';
import { COLUMN_LANES_CODE, COLUMN_WORKGROUP, COLUMNS, LANES } from './column-lanes.js';
import { numberedMembers } from './numbered-members.js';
import { memberName, memberSwitch, membersSideBySide } from './low-rank-product-wgsl.js';
import {
  cutJoined,
  joinedOffsets,
  joinsOutputs,
  membersPerDispatch,
  inChunksIfRefused,
  workgroupMemberChoice,
} from './joined-outputs.js';

export const ADAPTED_COLUMN_NORMS = 'McevalAdaptedColumnNorms';

/** Attributes: each member's s, its update's scaling (member l's inputs are w<l>, a<l> and b<l>). */
export interface AdaptedColumnNormsAttrs {
  readonly scales: readonly number[];
}

/** Storage buffers per member besides its norms: W, A and B (joined-outputs.ts). */
const MEMBER_BINDINGS = 3;

/**
 * The most layers one dispatch takes on this device: five at 16 storage buffers with their norms joined, four each
 * with its own (joined-outputs.ts).
 */
export const normsPerDispatch = (backend: WebGpuBackendLike): number => membersPerDispatch(backend, MEMBER_BINDINGS);

/**
 * Member l's share of its column's squares: its lane's rows of (A·B)·s + W, read from its own bindings. The loop is
 * written out once per member and chosen once per workgroup, where every load went through a switch (memberSwitch):
 * the pattern that left the forward product group at a seventh of its peers' rate on an H200.
 */
const memberSquares = (l: number) => {
  const field = (name: string) => `uniforms.${memberName(name, l)}`;
  const [w, a, b] = ['w', 'a', 'b'].map((name) => memberName(name, l));
  return `
fn squares${l}(at : ColumnLane) -> f32 {
  let rows = ${field('rows')};
  let columns = ${field('columns')};
  let scale = ${field('scale')};
  var squares = 0.0;
  if (at.j < columns) {
    for (var i = at.lane; i < rows; i += ${LANES}) {
      var low = 0.0;
      for (var k = 0; k < uniforms.rank; k++) {
        low += ${a}[i * uniforms.rank + k] * ${b}[k * columns + at.j];
      }
      let value = low * scale + ${w}[i * columns + at.j];
      squares += value * value;
    }
  }
  return squares;
}`;
};

/**
 * Fields after tfjs's: the first member's sizes and scaling, then each other member's and its first workgroup (and,
 * joined, where its norms start in the output), keyed by members × 2 + joined.
 */
const uniformFields = keptPerNumber((key) => {
  const [members, joined] = [key >> 1, (key & 1) === 1];
  const fields = ['rows : i32, columns : i32, rank : i32, scale : f32,'];
  for (let l = 1; l < members; l++)
    fields.push(
      `rows${l} : i32, columns${l} : i32, scale${l} : f32, firstTile${l} : i32,${joined ? ` outAt${l} : i32,` : ''}`,
    );
  return fields.join(' ');
});

/**
 * The workgroup's member l, its first workgroup, width and squares, then the column's sum, stored by member l into its
 * own output or at its place in the joined one.
 */
const code = (members: number, joined: boolean) => {
  const { declaration, writer } = memberSwitch(members);
  const choices = workgroupMemberChoice(members, joined ? ['columns', 'outAt'] : ['columns']);
  const squares = Array.from(
    { length: members },
    (_, l) => `if (layer == ${l}) {\n    squares = squares${l}(at);\n  }`,
  );
  return `${COLUMN_LANES_CODE}
${declaration}
${joined ? '' : writer('store', 'result')}
${Array.from({ length: members }, (_, l) => memberSquares(l)).join('\n')}
fn main() {
  layer = 0;
  var firstTile = 0;
  var columns = uniforms.columns;${joined ? '\n  var outAt = 0;' : ''}${choices}
  let at = columnLane(firstTile);
  var squares = 0.0;
  ${squares.join(' else ')}
  let total = columnSum(squares, at.column);
  if (at.lane == 0 && at.j < columns) {
    ${joined ? 'result[outAt + at.j] = sqrt(total);' : 'store(at.j, sqrt(total));'}
  }
}
`;
};

/** A member's W, A and B, and its update's scaling. */
type NormsMember = Record<'w' | 'a' | 'b', TensorInfo> & { readonly scale: number };

/**
 * One dispatch's norms for `members`, an output each or one joined and then cut by copies; undefined (nothing left
 * behind) where the copies are refused.
 */
function runNorms(gpu: WebGpuBackendLike, members: readonly NormsMember[]) {
  const count = members.length;
  const joined = joinsOutputs(gpu, count, MEMBER_BINDINGS);
  const rank = members[0]!.a.shape[1]!;
  const columns = members.map((m) => m.w.shape[1]!);
  const { firstTiles, columnTiles } = membersSideBySide(columns, COLUMNS);
  const outAt = joinedOffsets(columns);
  const results = joined ? [] : columns.slice(1).map((width) => gpu.makeTensorInfo([width], 'float32'));
  const first = runShader(
    gpu,
    {
      key: `${ADAPTED_COLUMN_NORMS}_${count}${joined ? 'j' : ''}`,
      inputs: [
        ...members.flatMap((_, l) =>
          ['w', 'a', 'b'].map((name) => ({ name: memberName(name, l), components: 1 as const })),
        ),
        ...results.map((_, k) => ({ name: memberName('result', k + 1), components: 1 as const, writable: true })),
      ],
      uniforms: uniformFields(count * 2 + Number(joined)),
      workgroupSize: COLUMN_WORKGROUP,
      dispatch: [columnTiles, 1],
      outputSize: joined ? outAt[count - 1]! + columns[count - 1]! : columns[0]!,
      code: () => code(count, joined),
    },
    [...members.flatMap((m) => [m.w, m.a, m.b]), ...results],
    [
      int(members[0]!.w.shape[0]!),
      int(columns[0]!),
      int(rank),
      float(members[0]!.scale),
      ...members
        .slice(1)
        .flatMap((m, k) => [
          int(m.w.shape[0]!),
          int(columns[k + 1]!),
          float(m.scale),
          int(firstTiles[k + 1]!),
          ...(joined ? [int(outAt[k + 1]!)] : []),
        ]),
    ],
  );
  if (!joined) return [first, ...results].map((info, l) => shaped(info, [columns[l]!]));
  return cutJoined(gpu, first, columns);
}

/**
 * Inputs, per member l: w<l> [in, out], a<l> [in, r], b<l> [r, out], one rank for all; outputs each member's [out].
 * Where a joined output's copies are refused, the members run as many to a dispatch as bind their own outputs.
 */
const adaptedColumnNorms: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const { scales } = attrs as unknown as AdaptedColumnNormsAttrs;
  const members = numberedMembers(inputs as Record<string, TensorInfo>, scales.length, ['w', 'a', 'b']).map(
    (member, l) => ({ ...member, scale: scales[l]! }),
  );
  if (members.length > normsPerDispatch(gpu)) throw new Error(`${ADAPTED_COLUMN_NORMS}: more layers than binds`);
  return inChunksIfRefused(gpu, members, MEMBER_BINDINGS, 1, (chunk) => runNorms(gpu, chunk));
};

export function webGpuAdaptedColumnNormsKernel(): KernelConfig {
  return { kernelName: ADAPTED_COLUMN_NORMS, backendName: 'webgpu', kernelFunc: adaptedColumnNorms };
}
