/**
 * When a product runs on the few-rows shader (few-rows-product-wgsl.ts) rather than on tiles: its rows at most
 * MCEVAL_WEBGPU_FEW_ROWS, operands in the layout the shader reads, no dropout mask, and its workgroup memory within
 * the device's.
 */
import { UserError } from '../../../errors.js';
import { FEW_ROWS_TILE, fewRowsAtOnce, fewRowsWorkgroupBytes, type FewRowsShape } from './few-rows-product-wgsl.js';
import { workgroupStorageBytes, type WebGpuBackendLike } from './shader.js';

const SETTING = 'MCEVAL_WEBGPU_FEW_ROWS';

/**
 * Rows up to which a product runs on the few-rows shader. A 64-row tile computes 64 rows whatever the rows are; the
 * few-rows shader reads W once per FEW_ROWS_AT_ONCE rows where a tile reads it once per 64, so past a few such rows the
 * tile wins: on lavapipe a 768-wide LoRA layer took 27 ms against the tile's 51 at 16 rows, 43 against 45 at 32.
 */
const DEFAULT_MOST_ROWS = 16;

/**
 * MCEVAL_WEBGPU_FEW_ROWS: the most rows a product may have to run on the few-rows shader (0: never; the default 16) —
 * the kit times decoding both ways. Read as the engine starts too, so that a bad value stops a run first.
 */
export function fewRowsMost(): number {
  const setting = process.env[SETTING];
  if (setting === undefined || setting === '') return DEFAULT_MOST_ROWS;
  if (!/^\d+$/.test(setting))
    throw new UserError(`${SETTING}=${setting} is not a number of rows: use 0 (never), a row count, or unset it.`);
  return Number(setting);
}

/** A product that might run on the few-rows shader: its rows, what it reads and adds, and what it cannot take. */
export interface FewRowsCandidate extends Omit<FewRowsShape, 'rowsAtOnce'> {
  readonly rows: number;
  /** A transposed operand or x, a dropout mask, or loads other than vec4: the shader does not take them. */
  readonly unsupported: boolean;
}

/** The few-rows shader's shape for `candidate` on this device, or undefined where the product stays on tiles. */
export function fewRowsShape(backend: WebGpuBackendLike, candidate: FewRowsCandidate): FewRowsShape | undefined {
  const { rows, unsupported, ...rest } = candidate;
  if (unsupported || rows > fewRowsMost()) return undefined;
  const shape: FewRowsShape = { ...rest, rowsAtOnce: fewRowsAtOnce(rows) };
  return fewRowsWorkgroupBytes(shape) <= workgroupStorageBytes(backend) ? shape : undefined;
}

/** The dispatch of a few-rows shader: column tiles (all members', side by side) by workgroups of rows. */
export const fewRowsDispatch = (columnTiles: number, rows: number, shape: FewRowsShape): [number, number] => [
  columnTiles,
  Math.ceil(rows / shape.rowsAtOnce),
];

/** Workgroups along the columns of a `columns`-wide output. */
export const fewRowsColumnTiles = (columns: number): number => Math.ceil(columns / FEW_ROWS_TILE);
