/**
 * tfjs-webgpu's buffer pool, kept to what a run goes on using. tfjs keeps every buffer a tensor frees for a later
 * tensor of the same byte size and usage, and gives none back. Where sizes change from one batch to the next — batches
 * padded to their longest sequence, prompts of every length, an epoch's short last batch — each size seen kept its
 * buffers for the rest of the run: builtin:small's LoRA steps over 33 sequence lengths (2 × 16 to 2 × 48 tokens) left
 * 294 MiB in the pool, against 29 MiB at one length; a real checkpoint's steps over a data set's lengths would fill a
 * GPU.
 *
 * Here each read after work (where the host waits on the GPU: a step's loss, a decoding step's logits, a batch's
 * scores) closes a period, and each size keeps as many free buffers as it had in use at once, at most, over the last
 * `window` periods, less those in use now; the rest are destroyed. A size a loop uses at least once every `window`
 * periods keeps its buffers, so a loop of one shape makes none again; a size it stopped using goes after `window`.
 * Destroying is safe: the pool holds only buffers no unrecorded or unsubmitted command uses (tfjs releases a buffer a
 * recorded command holds only after submitting it), and WebGPU frees a buffer's memory once the work submitted with it
 * is done.
 *
 * MCEVAL_WEBGPU_POOL: a number of periods (4 when unset), or `keep` for tfjs's pool as it is; read at each read.
 */
import { UserError } from '../errors.js';

export const POOL_SETTING = 'MCEVAL_WEBGPU_POOL';

/** Periods (reads after work) a size's use is remembered over when unset: a fine-tuning step makes one to three. */
export const DEFAULT_POOL_WINDOW = 4;

/** The window in periods, or undefined for `keep`; a bad value stops the run with one line. */
export function poolWindowSetting(): number | undefined {
  const setting = process.env[POOL_SETTING];
  if (setting === undefined || setting === '') return DEFAULT_POOL_WINDOW;
  if (setting === 'keep') return undefined;
  if (/^[1-9]\d*$/.test(setting)) return Number(setting);
  throw new UserError(
    `${POOL_SETTING}=${setting} is not a pool mceval keeps: use a number of reads (a whole number from 1) over which ` +
      'a buffer size unused is given back, keep, or unset it.',
  );
}

/** How doctor says it. */
export function describePool(window: number | undefined): string {
  return window === undefined ? "tfjs's, kept whole" : `sizes unused over ${window} reads given back`;
}

/** The most buffers of each key in use at once, per period, over the last `window` periods and the current one. */
export class PeakWindow {
  private current = new Map<string, number>();
  private readonly closed: Map<string, number>[] = [];

  /** `window` may change between periods. */
  constructor(public window: number) {}

  /** `inUse` buffers of `key` are in use now. */
  note(key: string, inUse: number): void {
    if (inUse > (this.current.get(key) ?? 0)) this.current.set(key, inUse);
  }

  /** Ends the current period; the next starts with `inUse` (key, count) in use. */
  close(inUse: Iterable<readonly [string, number]> = []): void {
    this.closed.push(this.current);
    while (this.closed.length > this.window) this.closed.shift();
    this.current = new Map();
    for (const [key, count] of inUse) this.note(key, count);
  }

  /** The most of `key` in use at once over the window. */
  most(key: string): number {
    let most = this.current.get(key) ?? 0;
    for (const period of this.closed) most = Math.max(most, period.get(key) ?? 0);
    return most;
  }
}

interface PoolBuffer {
  readonly size: number;
  readonly usage: number;
  destroy(): void;
}

/** tfjs-webgpu's BufferManager, the parts used here (its fields are public in JavaScript). */
export interface BufferPool {
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): PoolBuffer;
  readonly freeBuffers: Map<string, PoolBuffer[]>;
  readonly usedBuffers: Map<string, PoolBuffer[]>;
  numFreeBuffers: number;
  numBytesAllocated: number;
}

/** tfjs-webgpu's key of a buffer in its pool (kept-bind-groups.ts orders each key's free list). */
export const poolKeyOf = (buffer: Pick<PoolBuffer, 'size' | 'usage'>) => `${buffer.size}_${buffer.usage}`;

/**
 * Destroys the free buffers of each key beyond `most(key)` less those in use, from the end of its list (where tfjs
 * acquires); those `isHeld` holds stay besides. The keys stay in the pool's map, empty: tfjs's releaseBuffer drops a
 * buffer unrecorded when that map is empty.
 */
export function trimPool(pool: BufferPool, most: (key: string) => number, isHeld: HeldBuffers = () => false): void {
  for (const [key, free] of pool.freeBuffers) {
    const keep = Math.max(0, most(key) - (pool.usedBuffers.get(key)?.length ?? 0));
    // The unheld buffers past the first `keep` of them: those nearest the list's end.
    const gone = free.filter((buffer) => !isHeld(buffer)).slice(keep);
    if (gone.length === 0) continue;
    const destroyed = new Set(gone);
    free.splice(0, free.length, ...free.filter((buffer) => !destroyed.has(buffer)));
    for (const buffer of gone) {
      pool.numFreeBuffers--;
      pool.numBytesAllocated -= buffer.size;
      buffer.destroy();
    }
  }
}

/** tfjs-webgpu's BufferManager, the parts a borrow uses (`borrowPoolBuffer`). */
export interface BorrowingPool {
  readonly freeBuffers: Map<string, PoolBuffer[]>;
  readonly usedBuffers: Map<string, PoolBuffer[]>;
  numFreeBuffers: number;
  numUsedBuffers: number;
  numBytesUsed: number;
  releaseBuffer(buffer: PoolBuffer): void;
}

/**
 * Takes `buffer`, one of the pool's free buffers, as tfjs's acquire would have handed it out, until the returned
 * function gives it back as tfjs releases a tensor's buffer; undefined where it is not free. A replayed step writes its
 * numbers to the buffer its recorded step wrote them to, which tfjs counts free; a tensor made over it (zero-copy) is
 * what the next step holds on (replay/step-replayer.ts), and the pool must give that buffer to no other tensor meanwhile.
 */
export function borrowPoolBuffer(pool: BorrowingPool, buffer: PoolBuffer): (() => void) | undefined {
  const key = poolKeyOf(buffer);
  const free = pool.freeBuffers.get(key) ?? [];
  const at = free.indexOf(buffer);
  if (at < 0) return undefined;
  free.splice(at, 1);
  pool.numFreeBuffers--;
  const used = pool.usedBuffers.get(key) ?? [];
  pool.usedBuffers.set(key, used);
  used.push(buffer);
  pool.numUsedBuffers++;
  pool.numBytesUsed += buffer.size;
  return () => pool.releaseBuffer(buffer);
}

/** GPUBufferUsage.MAP_READ: a read's staging buffer. */
const MAP_READ = 0x0001;

/** Says whether a free buffer of the pool is held (`holdPoolBuffers`). */
export type HeldBuffers = (buffer: object) => boolean;

/** The holds on the pool's buffers now. */
const holds = new Set<HeldBuffers>();

/** Whether any hold holds `buffer`. */
const heldByAny: HeldBuffers = (buffer) => {
  for (const hold of holds) if (hold(buffer)) return true;
  return false;
};

/**
 * Keeps the buffers `isHeld` says it holds from being destroyed when the pool is trimmed, until the returned function
 * is called: the buffers of recorded steps a replay may stand for (replay/step-replayer.ts), whose commands use them,
 * free or not. The others are trimmed as ever.
 */
export function holdPoolBuffers(isHeld: HeldBuffers): () => void {
  // A hold of its own, though two holders pass one function.
  const hold: HeldBuffers = (buffer) => isHeld(buffer);
  holds.add(hold);
  return () => holds.delete(hold);
}

/** The most bytes the pool held (in use and free: what tfjs has of the GPU's memory) while a watch ran. */
export interface PoolBytesWatch {
  /** The most since the watch began (the bytes held then, at least). */
  readonly peak: number;
  /** Ends the watch; `peak` keeps its value. */
  stop(): void;
}

export interface BoundedPool {
  /** After a read: ends a period where there was work since the last, and trims. */
  settle(): void;
  /** Starts a watch of the pool's bytes; watches may overlap. */
  watch(): PoolBytesWatch;
  /**
   * Destroys every free buffer, under any setting: after the device refused work for its size, so that what the
   * refused work freed does not hold the GPU's memory through a smaller retry (and its peak), as accelerate empties
   * CUDA's cache before it retries.
   */
  release(): void;
}

/**
 * Counts the pool's use per key from now on; `settle()`, after each read, ends a period and trims to the window
 * `window()` gives then (the setting, read at each read), or not at all where it gives undefined. Reads with no work
 * between them (a batch's several results read together) end one period: only a buffer acquired for work — any but a
 * read's staging buffer — opens the next.
 */
export function boundPool(pool: BufferPool, window: () => number | undefined): BoundedPool {
  const peaks = new PeakWindow(window() ?? DEFAULT_POOL_WINDOW);
  const watches = new Set<{ peak: number }>();
  let worked = false;
  const acquire = pool.acquireBuffer.bind(pool);
  pool.acquireBuffer = (...args) => {
    const buffer = acquire(...args);
    const key = poolKeyOf(buffer);
    peaks.note(key, pool.usedBuffers.get(key)?.length ?? 0);
    if ((buffer.usage & MAP_READ) === 0) worked = true;
    // The pool's bytes grow only here, when a buffer is made.
    for (const watch of watches) watch.peak = Math.max(watch.peak, pool.numBytesAllocated);
    return buffer;
  };
  return {
    watch() {
      const watch = { peak: pool.numBytesAllocated };
      watches.add(watch);
      return {
        get peak() {
          return watch.peak;
        },
        stop: () => watches.delete(watch),
      };
    },
    settle() {
      if (!worked) return;
      worked = false;
      const reads = window();
      // Buffers held across the read are in use in the next period too.
      const held = [...pool.usedBuffers].map(([key, buffers]) => [key, buffers.length] as const);
      peaks.window = reads ?? DEFAULT_POOL_WINDOW;
      peaks.close(held);
      if (reads !== undefined) trimPool(pool, (key) => peaks.most(key), holds.size === 0 ? undefined : heldByAny);
    },
    release() {
      trimPool(pool, () => 0);
    },
  };
}
