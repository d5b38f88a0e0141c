/** The hyperparameter grid of a sweep: learning rates × batch sizes, from --grid flags or a preset's defaults. */
import { UserError } from '../errors.js';

export interface Grid {
  readonly lr: readonly number[];
  readonly bs: readonly number[];
}

export interface GridPoint {
  readonly lr: number;
  readonly bs: number;
}

export const GRID_SYNTAX = 'expected NAME=V1,V2,... with NAME lr or bs, e.g. --grid lr=1e-4,3e-4 --grid bs=8,16';

/** Parses repeatable `--grid lr=…` / `--grid bs=…` values; a name not given keeps the default's values. */
export function parseGridFlags(values: readonly string[], defaults: Grid): Grid {
  const parsed: { lr?: number[]; bs?: number[] } = {};
  for (const value of values) {
    const match = /^\s*(lr|bs)\s*=\s*(.+)$/.exec(value);
    if (match === null) throw new UserError(`Malformed --grid "${value}": ${GRID_SYNTAX}.`);
    const name = match[1] as 'lr' | 'bs';
    const numbers = match[2]!.split(',').map((item) => Number(item.trim()));
    const valid = numbers.every(
      (n, i) =>
        match[2]!.split(',')[i]!.trim() !== '' && Number.isFinite(n) && n > 0 && (name === 'lr' || Number.isInteger(n)),
    );
    if (!valid) {
      const kind = name === 'lr' ? 'positive numbers' : 'positive integers';
      throw new UserError(`Malformed --grid "${value}": ${name} values must be ${kind}; ${GRID_SYNTAX}.`);
    }
    parsed[name] = [...new Set([...(parsed[name] ?? []), ...numbers])];
  }
  return { lr: parsed.lr ?? defaults.lr, bs: parsed.bs ?? defaults.bs };
}

/** Every (lr, bs) pair, learning rate major. */
export function gridPoints(grid: Grid): GridPoint[] {
  return grid.lr.flatMap((lr) => grid.bs.map((bs) => ({ lr, bs })));
}
