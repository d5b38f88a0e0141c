/**
 * How a number was made, kept with every run: mceval's version and commit, the machine, the backend, the seed, the
 * model and data checksums, the limits and example counts, and when and how long it ran.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../paths.js';

export interface SweepProvenance {
  readonly mceval_version: string;
  /** The checkout's commit when mceval runs from one. */
  readonly git_commit?: string;
  readonly node: string;
  readonly platform: string;
  readonly hostname: string;
  readonly backend: string;
  readonly device: string;
  /** Grid points trained at once. */
  readonly threads: number;
  readonly seed: number;
  readonly model: { readonly spec: string; readonly sha256: string };
  readonly limits: { readonly limit?: number; readonly train_limit?: number; readonly train_file?: string };
  readonly shard?: string;
}

export interface RunProvenance extends SweepProvenance {
  readonly run_key: string;
  readonly data: {
    readonly task: string;
    /** The hash of the splits as used (after limits). */
    readonly sha256: string;
    /** The canonical files read, by path under --data. */
    readonly files: Readonly<Record<string, string>>;
  };
  readonly examples: { readonly train: number; readonly eval: number };
  readonly started: string;
  readonly finished: string;
  readonly wall_seconds: number;
  /** The process's peak resident memory when the run ended (all worker threads together). */
  readonly peak_rss_bytes: number;
}

// Both are fixed for the life of the process, and asked for after every committed run: read once.
let version: string | undefined;
let commit: { readonly value: string | undefined } | undefined;

export function mcevalVersion(): string {
  version ??= (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/** The commit of the checkout mceval runs from, read from .git without running git; undefined elsewhere. */
export function gitCommit(): string | undefined {
  commit ??= { value: readGitCommit(packagePath()) };
  return commit.value;
}

function readGitCommit(root: string): string | undefined {
  const git = join(root, '.git');
  try {
    const head = readFileSync(join(git, 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head;
    const ref = head.slice('ref: '.length);
    if (existsSync(join(git, ref))) return readFileSync(join(git, ref), 'utf8').trim();
    const packed = readFileSync(join(git, 'packed-refs'), 'utf8')
      .split('\n')
      .find((line) => line.endsWith(` ${ref}`));
    return packed?.split(' ')[0];
  } catch {
    return undefined;
  }
}

export function deviceName(backend: string): string {
  const cores = cpus();
  return `${backend}: ${cores[0]?.model.trim() ?? 'unknown cpu'} (${cores.length} cores)`;
}

export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
