/**
 * Shaders that sum down the columns of a row-major [rows, columns] matrix (DoRA's weight norms, its magnitude's
 * gradient): a workgroup owns COLUMNS neighbouring columns, LANES invocations each, every lane walking every LANES-th
 * row, so that a row's COLUMNS values are read side by side; `columnSum` then adds a column's lanes in lane order.
 * Eight columns are 32 bytes of a row, the sector NVIDIA's memory is read in, and leave a workgroup per 8 columns —
 * 96 for a 768-wide layer, where 32 columns a workgroup left 24 for a GPU's 100-odd multiprocessors — each lane
 * walking a 32nd of the rows. On lavapipe the two layouts are within its run-to-run spread (a DoRA step with dropout,
 * builtin:small 4 × 64: 3,323–4,072 ms at 32 columns, 3,568–4,148 at 8).
 */
export const COLUMNS = 8;
export const LANES = 32;
export const COLUMN_WORKGROUP = COLUMNS * LANES;

/** Workgroups for `columns` columns. */
export const columnWorkgroups = (columns: number): [number, number] => [Math.ceil(columns / COLUMNS), 1];

/**
 * WGSL: `column` (within the workgroup), `lane` and `j` (the matrix's column; past the last where it is ragged) of this
 * invocation, from `columnLane(firstTile)` (the matrix's first workgroup: 0, or a group member's, whose matrices lie
 * side by side along the workgroups); and `columnSum(value, column)`, every lane's value of that column summed in lane
 * order (one workgroup barrier: call it from uniform control flow).
 */
export const COLUMN_LANES_CODE = `
var<workgroup> partial : array<f32, ${COLUMN_WORKGROUP}>;

struct ColumnLane {
  column : i32,
  lane : i32,
  j : i32,
}

fn columnLane(firstTile : i32) -> ColumnLane {
  let column = i32(localIndex) % ${COLUMNS};
  return ColumnLane(column, i32(localIndex) / ${COLUMNS}, (i32(workgroupId.x) - firstTile) * ${COLUMNS} + column);
}

fn columnSum(value : f32, column : i32) -> f32 {
  partial[localIndex] = value;
  workgroupBarrier();
  var total = 0.0;
  for (var l = 0; l < ${LANES}; l++) {
    total += partial[l * ${COLUMNS} + column];
  }
  return total;
}
`;
