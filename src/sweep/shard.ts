/** `--shard i/n`: the plan entries whose position p has p mod n = i (0 ≤ i < n) — deterministic, and balanced across tasks and adapters. */
import { UserError } from '../errors.js';

export interface Shard {
  readonly index: number;
  readonly count: number;
}

export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || count < 1 || index >= count) {
    throw new UserError(
      `--shard must be i/n with 0 ≤ i < n (e.g. 0/4 … 3/4, as Slurm's array task ids), not "${text}".`,
    );
  }
  return { index, count };
}

export function inShard(position: number, shard: Shard | undefined): boolean {
  return shard === undefined || position % shard.count === shard.index;
}

export function formatShard(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}
