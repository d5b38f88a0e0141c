/**
 * Bind groups kept by what they bind. tfjs-webgpu makes a bind group at every dispatch, the costliest host call of a
 * small one (25 µs on the H200's host, 34 µs here on lavapipe, against 3 µs for its uniforms and 5 µs to set and
 * dispatch), and a training step makes the same ones step after step — the same pipelines over the same buffers — as
 * long as the buffer pool hands the same buffers out. It did not: tfjs's pool gives a size's most recently freed
 * buffer, and the order in which a step frees its buffers leaves the free lists in a new order for the next step
 * (stories260K's LoRA step: 5 of 170 bind groups seen the step before). So two things are done together:
 *
 * - each size's free buffers are kept in the order they were first seen (`orderFreeBuffers`), so that which buffer a
 *   tensor gets depends only on which are free, not on the order they were freed in: then 170 of 170 repeat;
 * - a bind group asked for again with the same layout and the same buffers, offsets and sizes at the same bindings is
 *   the one made before (`keepBindGroups`). A bind group holds nothing but those references, so it is the same
 *   object in all but name. At most `most` are kept; past that the kept ones are dropped and made again as asked for
 *   (a run whose shapes change every batch makes new buffers, never the same group twice).
 *
 * MCEVAL_WEBGPU_BIND_GROUPS: `kept` (unset; the uniform writes are kept with them: kept-uniforms.ts) or `new`
 * (tfjs's, one made at every dispatch, the pool's order as tfjs leaves it); read as the engine starts and at each
 * read, as the pool's setting is, so that a benchmark can time both.
 */
import { readTimeChoice } from './read-time-choice.js';
import { poolKeyOf } from './webgpu-pool.js';

export const BIND_GROUPS_SETTING = 'MCEVAL_WEBGPU_BIND_GROUPS';

const bindGroups = readTimeChoice(BIND_GROUPS_SETTING, ['kept', 'new']);

export const bindGroupsSetting = bindGroups.read;

/** Reads the setting for the dispatches from now on. */
export const applyBindGroupsSetting = bindGroups.apply;

/** Whether bind groups are kept now (kept-uniforms.ts keeps uniform writes with them). */
export const keepingBindGroups = (): boolean => bindGroups.current() === 'kept';

/** How many bind groups are kept at most before all are dropped. */
export const KEPT_BIND_GROUPS = 8192;

/** A number per object, in the order objects are first seen (buffers, layouts). */
const numbers = new WeakMap<object, number>();
let nextNumber = 0;

function numberOf(object: object): number {
  let number = numbers.get(object);
  if (number === undefined) {
    number = nextNumber++;
    numbers.set(object, number);
  }
  return number;
}

interface BindGroupEntry {
  readonly binding: number;
  readonly resource: unknown;
}

interface BufferBinding {
  readonly buffer: object;
  readonly offset?: number;
  readonly size?: number;
}

export interface BindGroupMaker {
  createBindGroup(descriptor: { readonly layout: object; readonly entries: Iterable<BindGroupEntry> }): unknown;
}

const isBufferBinding = (resource: unknown): resource is BufferBinding =>
  typeof resource === 'object' && resource !== null && typeof (resource as BufferBinding).buffer === 'object';

/** What a bind group binds, as a key; undefined where it binds anything but buffers (not kept). */
function bindGroupKey(layout: object, entries: Iterable<BindGroupEntry>): string | undefined {
  let key = `${numberOf(layout)}`;
  for (const { binding, resource } of entries) {
    if (!isBufferBinding(resource)) return undefined;
    key += `|${binding}:${numberOf(resource.buffer)}:${resource.offset ?? 0}:${resource.size ?? ''}`;
  }
  return key;
}

/** The buffers each kept bind group binds. */
const bound = new WeakMap<object, readonly object[]>();

/** The buffers `group` binds, where it is a kept bind group (undefined otherwise). */
export const boundBuffers = (group: object): readonly object[] | undefined => bound.get(group);

/** Makes `device` give a bind group it made before for the same layout and bindings. */
export function keepBindGroups(device: BindGroupMaker, most = KEPT_BIND_GROUPS): void {
  const create = device.createBindGroup.bind(device);
  const kept = new Map<string, unknown>();
  device.createBindGroup = (descriptor) => {
    if (!keepingBindGroups()) return create(descriptor);
    const key = bindGroupKey(descriptor.layout, descriptor.entries);
    if (key === undefined) return create(descriptor);
    let group = kept.get(key);
    if (group === undefined) {
      if (kept.size >= most) kept.clear();
      group = create(descriptor);
      kept.set(key, group);
      if (typeof group === 'object' && group !== null)
        bound.set(
          group,
          [...descriptor.entries].map((entry) => (entry.resource as BufferBinding).buffer),
        );
    }
    return group;
  };
}

interface PoolBuffer {
  readonly size: number;
  readonly usage: number;
}

/** tfjs-webgpu's BufferManager, the parts used here: it frees by pushing onto a key's list, acquires by popping. */
export interface OrderedPool {
  releaseBuffer(buffer: PoolBuffer, reuse?: boolean): void;
  readonly freeBuffers: Map<string, PoolBuffer[]>;
}

/**
 * Keeps each of the pool's free lists with the buffer seen first at its end, where tfjs's acquire takes from: a
 * buffer freed goes down its list past those seen after it, to the place a binary search finds (the list runs from
 * the buffer seen last to the one seen first). A step frees its uniform buffers, a hundred or more of a few sizes, at
 * each submit: walked one by one, placing them took 0.4–0.5 ms more of a stories260K step's recording here.
 */
export function orderFreeBuffers(pool: OrderedPool): void {
  const release = pool.releaseBuffer.bind(pool);
  pool.releaseBuffer = (buffer, reuse) => {
    release(buffer, reuse);
    if (!keepingBindGroups()) return;
    const free = pool.freeBuffers.get(poolKeyOf(buffer));
    if (free === undefined || free.at(-1) !== buffer) return;
    const at = placeOf(free, numberOf(buffer));
    if (at === free.length - 1) return;
    free.pop();
    free.splice(at, 0, buffer);
  };
}

/** Where a buffer numbered `number` goes among the others of `free` (all but its last): after every older one. */
function placeOf(free: readonly object[], number: number): number {
  let [low, high] = [0, free.length - 1];
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (numberOf(free[middle]!) < number) high = middle;
    else low = middle + 1;
  }
  return low;
}
