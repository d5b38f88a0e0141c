/**
 * How the host waits on the GPU. Dawn's Node binding completes a read (mapAsync), a queue's onSubmittedWorkDone and
 * its other promises by polling the device from a native callback that it hands to the global `setImmediate`, and
 * hands again on every turn of the event loop until nothing is pending: for the whole of each wait one core spins,
 * allocating as it goes (an Immediate per turn: ~20 MB of garbage per builtin:small step on lavapipe, collected by
 * pauses inside the next step's recording). On a GPU that core is otherwise idle and the spin sees the work finish at
 * once. On a software adapter (lavapipe, llvmpipe) the shaders run on the CPU's cores, and the spin takes one of them
 * from the driver: a builtin:small LoRA step at 4 × 64 tokens on 2 cores took 1,613–1,849 ms with it, 809–933 without.
 *
 * So mceval passes Dawn's polls on through a timer (1 ms, Node's shortest) where MCEVAL_WEBGPU_WAIT says to sleep,
 * after spinning for its first milliseconds where it gives a number. Only Dawn's callback is diverted: a native
 * function made by an addon (own `prototype`, no name), which JavaScript's own and the engine's built-ins (a promise's
 * resolve, a bound function) are not.
 */
import { types } from 'node:util';
import { UserError } from '../errors.js';

const SETTING = 'MCEVAL_WEBGPU_WAIT';

/** Milliseconds of each wait polled on every turn of the event loop before polling by timer (Infinity: all). */
export type SpinMilliseconds = number;

/**
 * MCEVAL_WEBGPU_WAIT: `auto` (unset: `sleep` on a software adapter, `spin` on a GPU — Dawn's own way, until the kit's
 * timings on one say otherwise), `spin`, `sleep`, or a number of milliseconds to spin before sleeping. Undefined for
 * `auto`. Read as the engine starts too, so that a bad value stops a run first.
 */
export function waitSetting(): SpinMilliseconds | undefined {
  const setting = process.env[SETTING];
  if (setting === undefined || setting === '' || setting === 'auto') return undefined;
  if (setting === 'spin') return Infinity;
  if (setting === 'sleep') return 0;
  if (/^\d+(\.\d+)?$/.test(setting)) return Number(setting);
  throw new UserError(
    `${SETTING}=${setting} is not a way to wait: use spin, sleep, a number of milliseconds to spin before ` +
      'sleeping, or unset it.',
  );
}

/** What `auto` is on an adapter: software adapters sleep, GPUs spin. */
export const autoSpinMilliseconds = (softwareAdapter: boolean): SpinMilliseconds => (softwareAdapter ? 0 : Infinity);

/**
 * Whether `callback` is an addon's native function (Dawn's poll), not a built-in or a script's function (a proxy of
 * one would pass the other checks).
 */
export function isAddonCallback(callback: unknown): boolean {
  return (
    typeof callback === 'function' &&
    !types.isProxy(callback) &&
    callback.name === '' &&
    Object.prototype.hasOwnProperty.call(callback, 'prototype') &&
    Function.prototype.toString.call(callback).endsWith('{ [native code] }')
  );
}

type Callback = (...args: unknown[]) => unknown;

/** What the diverting setImmediate is made of: Node's schedulers, the test for Dawn's poll, a clock, the setting. */
export interface WaitParts {
  readonly immediate: (callback: Callback, ...args: unknown[]) => unknown;
  /** Runs `callback` after `ms` milliseconds. */
  readonly timer: (callback: Callback, ms: number, ...args: unknown[]) => unknown;
  readonly isPoll: (callback: unknown) => boolean;
  readonly now: () => number;
  /** Read as each wait begins: how long it may spin. */
  readonly spinFor: () => SpinMilliseconds;
  /** Polls passed on each way. */
  readonly counts: { spun: number; slept: number };
}

/**
 * A setImmediate that passes every callback but Dawn's poll to `immediate`, and each poll to `immediate` while its
 * wait is younger than its spin, else to a 1 ms timer. A poll scheduled from inside a poll continues that wait (Dawn
 * schedules the next poll at the end of each while anything is pending, and never two at once); any other begins one.
 */
export function divertingImmediate(parts: WaitParts): (callback: unknown, ...args: unknown[]) => unknown {
  let polling = false;
  let began = 0;
  let spin: SpinMilliseconds = Infinity;
  return (callback, ...args) => {
    if (!parts.isPoll(callback)) return parts.immediate(callback as Callback, ...args);
    // A wait's first poll spins whenever it may spin at all: read against the clock, a pause of the process between
    // the two readings (a loaded machine's) could send it to the timer.
    const first = !polling;
    if (first) {
      began = parts.now();
      spin = parts.spinFor();
    }
    const polled: Callback = (...given) => {
      polling = true;
      try {
        return (callback as Callback)(...given);
      } finally {
        polling = false;
      }
    };
    if (spin > 0 && (first || parts.now() - began < spin)) {
      parts.counts.spun += 1;
      return parts.immediate(polled, ...args);
    }
    parts.counts.slept += 1;
    return parts.timer(polled, 1, ...args);
  };
}

interface WaitState {
  softwareAdapter: boolean;
  readonly counts: { spun: number; slept: number };
}

let state: WaitState | undefined;

/** How many of Dawn's polls went each way since the process started (zeros before a device was opened). */
export function dawnPolls(): { readonly spun: number; readonly slept: number } {
  return { ...(state?.counts ?? { spun: 0, slept: 0 }) };
}

/** The spin of a wait beginning now: the setting's, or `auto`'s for the adapter (a value gone bad mid-run: `auto`). */
function spinNow(current: WaitState): SpinMilliseconds {
  let setting: SpinMilliseconds | undefined;
  try {
    setting = waitSetting();
  } catch {
    // Checked as the engine started; a value changed to a bad one since must not throw inside Dawn's native call.
    setting = undefined;
  }
  return setting ?? autoSpinMilliseconds(current.softwareAdapter);
}

/**
 * Puts mceval's wait in front of the global `setImmediate`, once per process, before Dawn is created: every other
 * caller gets Node's own. The adapter's kind is told once it is known (`dawnAdapterKind`).
 */
export function installDawnWait(): void {
  if (state !== undefined) return;
  const current: WaitState = { softwareAdapter: false, counts: { spun: 0, slept: 0 } };
  state = current;
  const immediate = globalThis.setImmediate;
  const diverting = divertingImmediate({
    immediate: immediate as unknown as WaitParts['immediate'],
    timer: setTimeout as unknown as WaitParts['timer'],
    isPoll: isAddonCallback,
    now: () => performance.now(),
    spinFor: () => spinNow(current),
    counts: current.counts,
  });
  // util.promisify's custom form and any other property Node hangs on it stay as they were.
  for (const key of Reflect.ownKeys(immediate)) {
    if (key === 'length' || key === 'name' || key === 'prototype') continue;
    Object.defineProperty(diverting, key, Object.getOwnPropertyDescriptor(immediate, key)!);
  }
  globalThis.setImmediate = diverting as unknown as typeof setImmediate;
}

/** Tells the wait which adapter the device is on (for `auto`). */
export function dawnAdapterKind(softwareAdapter: boolean): void {
  if (state !== undefined) state.softwareAdapter = softwareAdapter;
}

/** The wait a device on this adapter gets now, in words: `spin`, `sleep` or `spin N ms, then sleep`. */
export function describeWait(softwareAdapter: boolean): string {
  const spin = waitSetting() ?? autoSpinMilliseconds(softwareAdapter);
  if (spin === Infinity) return 'spin';
  return spin === 0 ? 'sleep' : `spin ${spin} ms, then sleep`;
}
