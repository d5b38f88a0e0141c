/**
 * The run store: one SQLite database (WAL mode) in --out, `mceval.sqlite`, beside one folder per finished run under
 * runs/. A row is written only after its folder is complete and in place, in one transaction, so the database never
 * points at a half-written run and a killed sweep loses at most the runs it was computing. Sweeps are recorded by
 * their id (a hash of their run keys) with the keys in plan order, so a rerun knows what is finished and what a
 * different sweep is.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { RunResult } from '../report/results.js';
import type { RunProvenance } from './provenance.js';

export const STORE_FILE = 'mceval.sqlite';
const SCHEMA_VERSION = 1;

/** A finished run as the store keeps it: the result without its step log and samples (those live in its folder). */
export type StoredResult = Omit<RunResult, 'log' | 'samples'>;

export interface StoredRun {
  readonly key: string;
  /** The run's position in its full (unsharded) plan: results are listed in this order. */
  readonly planIndex: number;
  readonly sweep: string;
  /** The run's folder, relative to the store's directory. */
  readonly dir: string;
  readonly result: StoredResult;
  readonly provenance: RunProvenance;
}

export interface SweepRecord {
  /** The hash of this sweep's run keys (a shard's own keys when sharded). */
  readonly id: string;
  /** The hash of the whole plan's keys: equal for every shard of one sweep. */
  readonly planId: string;
  /** "i/n" for a shard of a plan, undefined for a whole one. */
  readonly shard: string | undefined;
  /** This sweep's run keys, in plan order. */
  readonly keys: readonly string[];
  /** The whole plan's size, for merges to say what is missing. */
  readonly planSize: number;
  readonly command: string;
  readonly created: string;
}

interface RunRow {
  key: string;
  plan_index: number;
  sweep: string;
  dir: string;
  result: string;
  provenance: string;
}

interface SweepRow {
  id: string;
  plan_id: string;
  shard: string | null;
  keys: string;
  plan_size: number;
  command: string;
  created: string;
}

export class RunStore {
  private constructor(
    private readonly db: Database.Database,
    readonly dir: string,
  ) {}

  static open(dir: string): RunStore {
    const db = new Database(join(dir, STORE_FILE));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 10000');
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS sweeps (
        id TEXT PRIMARY KEY, plan_id TEXT NOT NULL, shard TEXT, keys TEXT NOT NULL, plan_size INTEGER NOT NULL,
        command TEXT NOT NULL, created TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS runs (
        key TEXT PRIMARY KEY, plan_index INTEGER NOT NULL, sweep TEXT NOT NULL, dir TEXT NOT NULL,
        task TEXT NOT NULL, adapter TEXT NOT NULL, result TEXT NOT NULL, provenance TEXT NOT NULL,
        finished TEXT NOT NULL);
    `);
    db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('schema', String(SCHEMA_VERSION));
    return new RunStore(db, dir);
  }

  close(): void {
    this.db.close();
  }

  sweeps(): SweepRecord[] {
    return (this.db.prepare('SELECT * FROM sweeps ORDER BY rowid').all() as SweepRow[]).map((row) => ({
      id: row.id,
      planId: row.plan_id,
      shard: row.shard ?? undefined,
      keys: JSON.parse(row.keys) as string[],
      planSize: row.plan_size,
      command: row.command,
      created: row.created,
    }));
  }

  recordSweep(sweep: SweepRecord): void {
    this.db
      .prepare(
        'INSERT OR IGNORE INTO sweeps (id, plan_id, shard, keys, plan_size, command, created) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        sweep.id,
        sweep.planId,
        sweep.shard ?? null,
        JSON.stringify(sweep.keys),
        sweep.planSize,
        sweep.command,
        sweep.created,
      );
  }

  finishedKeys(): Set<string> {
    return new Set((this.db.prepare('SELECT key FROM runs').all() as { key: string }[]).map((row) => row.key));
  }

  /** Commits a finished run whose folder is already complete; a key already stored is left as it is. */
  commitRun(run: StoredRun): boolean {
    const info = this.db
      .prepare(
        'INSERT OR IGNORE INTO runs (key, plan_index, sweep, dir, task, adapter, result, provenance, finished) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        run.key,
        run.planIndex,
        run.sweep,
        run.dir,
        run.result.task,
        run.result.adapter,
        JSON.stringify(run.result, jsonNumbers),
        JSON.stringify(run.provenance),
        run.provenance.finished,
      );
    return info.changes === 1;
  }

  /** Every finished run in plan order: plans in the order they were first recorded, runs by their plan index. */
  runs(): StoredRun[] {
    const planRank = new Map<string, number>();
    const planOf = new Map<string, string>();
    for (const sweep of this.sweeps()) {
      if (!planRank.has(sweep.planId)) planRank.set(sweep.planId, planRank.size);
      planOf.set(sweep.id, sweep.planId);
    }
    const rank = (row: RunRow) => planRank.get(planOf.get(row.sweep) ?? '') ?? planRank.size;
    const rows = (this.db.prepare('SELECT * FROM runs').all() as RunRow[]).sort(
      (a, b) => rank(a) - rank(b) || a.plan_index - b.plan_index,
    );
    return rows.map((row) => ({
      key: row.key,
      planIndex: row.plan_index,
      sweep: row.sweep,
      dir: row.dir,
      result: JSON.parse(row.result, revivedNumbers) as StoredResult,
      provenance: JSON.parse(row.provenance) as RunProvenance,
    }));
  }

  /** Runs several writes as one transaction. */
  transaction<T>(body: () => T): T {
    return this.db.transaction(body)();
  }
}

// NaN and ±Infinity (a diverged run's loss) survive JSON as tagged strings.
function jsonNumbers(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return `__number:${value}`;
  return value;
}

function revivedNumbers(_key: string, value: unknown): unknown {
  if (typeof value === 'string' && value.startsWith('__number:')) return Number(value.slice('__number:'.length));
  return value;
}
