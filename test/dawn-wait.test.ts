/**
 * How the host waits on the GPU (engine/dawn-wait.ts), without a GPU: MCEVAL_WEBGPU_WAIT's values and its one-line
 * error, what `auto` is on each kind of adapter, which callbacks count as an addon's (none that JavaScript or Node
 * makes), how a wait's polls go (on a fake clock, with a stand-in for Dawn's poll), and that the installed setImmediate
 * leaves every other caller with Node's own. Dawn's polls themselves are diverted in test/webgpu/dawn-wait.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import {
  autoSpinMilliseconds,
  describeWait,
  dawnPolls,
  divertingImmediate,
  installDawnWait,
  isAddonCallback,
  waitSetting,
} from '../src/engine/dawn-wait.js';
import { withEnv } from './with-env.js';
import { UserError } from '../src/errors.js';

test("MCEVAL_WEBGPU_WAIT: auto (unset), spin, sleep or milliseconds of spin; else one line's error", async () => {
  const read = (value: string | undefined) => withEnv('MCEVAL_WEBGPU_WAIT', value, waitSetting);
  assert.equal(await read(undefined), undefined);
  assert.equal(await read(''), undefined);
  assert.equal(await read('auto'), undefined);
  assert.equal(await read('spin'), Infinity);
  assert.equal(await read('sleep'), 0);
  assert.equal(await read('2'), 2);
  assert.equal(await read('0.5'), 0.5);
  for (const bad of ['often', '-1', '2ms'])
    await assert.rejects(read(bad), (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.equal(
        error.message,
        `MCEVAL_WEBGPU_WAIT=${bad} is not a way to wait: use spin, sleep, a number of milliseconds to spin before ` +
          'sleeping, or unset it.',
      );
      return true;
    });
});

test('auto sleeps on a software adapter and spins on a GPU; doctor says so in words', async () => {
  assert.equal(autoSpinMilliseconds(true), 0);
  assert.equal(autoSpinMilliseconds(false), Infinity);
  const words = (value: string | undefined, software: boolean) =>
    withEnv('MCEVAL_WEBGPU_WAIT', value, () => describeWait(software));
  assert.equal(await words(undefined, true), 'sleep');
  assert.equal(await words(undefined, false), 'spin');
  assert.equal(await words('spin', true), 'spin');
  assert.equal(await words('sleep', false), 'sleep');
  assert.equal(await words('2', false), 'spin 2 ms, then sleep');
});

test("no function JavaScript or Node makes counts as an addon's callback", () => {
  let resolve: unknown;
  void new Promise((done) => (resolve = done));
  class Made {}
  const candidates: unknown[] = [
    function named() {},
    function () {},
    () => {},
    async () => {},
    Made,
    resolve,
    function () {}.bind(null),
    console.log,
    setImmediate,
    Math.max,
    Function.prototype,
    new Proxy(function () {}, {}),
    undefined,
    'function () { [native code] }',
  ];
  for (const candidate of candidates) assert.equal(isAddonCallback(candidate), false, String(candidate));
});

test("with the wait installed, other callers get Node's setImmediate: arguments, promisify, clear", async () => {
  installDawnWait();
  installDawnWait();
  const args = await new Promise<unknown[]>((done) => setImmediate((...given: unknown[]) => done(given), 1, 'two'));
  assert.deepEqual(args, [1, 'two']);
  await new Promise((done) => setImmediate(done));
  assert.equal(await promisify(setImmediate)('value'), 'value');
  let ran = false;
  clearImmediate(setImmediate(() => (ran = true)));
  await new Promise((done) => setTimeout(done, 5));
  assert.equal(ran, false);
  assert.deepEqual(dawnPolls(), { spun: 0, slept: 0 });
});

/** A diverting setImmediate over recorded schedulers: each scheduled callback waits in `queue` with the way it went. */
function recorded(spinFor: () => number) {
  const queue: { way: 'turn' | 'timer'; run: () => unknown }[] = [];
  const clock = { now: 0 };
  const counts = { spun: 0, slept: 0 };
  const poll = Object.assign(() => undefined, { dawn: true });
  const diverting = divertingImmediate({
    immediate: (callback, ...args) => queue.push({ way: 'turn', run: () => callback(...args) }),
    timer: (callback, ms, ...args) => {
      assert.equal(ms, 1);
      return queue.push({ way: 'timer', run: () => callback(...args) });
    },
    isPoll: (callback) => (callback as { dawn?: boolean }).dawn === true,
    now: () => clock.now,
    spinFor,
    counts,
  });
  /** Runs the next scheduled callback at `time`, and says which way it had gone. */
  const next = (time: number) => {
    clock.now = time;
    const entry = queue.shift()!;
    entry.run();
    return entry.way;
  };
  return { queue, clock, counts, diverting, next, poll };
}

test("a wait's polls spin while it is younger than its spin, then go by timer; the next wait spins again", () => {
  const spins = [2, 0];
  const { queue, counts, diverting, next } = recorded(() => spins.shift()!);
  // Dawn's poll schedules the next one from inside itself while work is pending: three more, then done.
  let pending = 3;
  const poll = Object.assign(
    () => {
      if (pending-- > 0) diverting(poll);
    },
    { dawn: true },
  );
  diverting(poll);
  assert.equal(next(1), 'turn');
  assert.equal(next(1.9), 'turn');
  // Scheduled at 1.9: spun. Scheduled at 2.5, past the wait's 2 ms: by timer.
  assert.equal(next(2.5), 'turn');
  assert.equal(next(3.6), 'timer');
  assert.equal(queue.length, 0);
  assert.deepEqual(counts, { spun: 3, slept: 1 });
  // A new wait, from outside a poll, reads the setting again (0: sleep from its first poll).
  pending = 1;
  diverting(poll);
  assert.equal(next(10), 'timer');
  assert.equal(next(11), 'timer');
  assert.deepEqual(counts, { spun: 3, slept: 3 });
});

test("a wait's first poll spins even where the clock moves past its spin before the poll is placed", () => {
  // A loaded machine: the process paused for 5 ms between the wait's start and its first poll's placing.
  const { clock, counts, diverting, next, poll } = recorded(() => {
    clock.now += 5;
    return 1;
  });
  diverting(poll);
  assert.equal(next(6), 'turn');
  assert.deepEqual(counts, { spun: 1, slept: 0 });
});

test("other callbacks go to Node's setImmediate whatever the wait, with their arguments, and are not counted", () => {
  const { counts, diverting, next } = recorded(() => 0);
  const seen: unknown[] = [];
  diverting((...args: unknown[]) => seen.push(args), 'a', 2);
  assert.equal(next(0), 'turn');
  assert.deepEqual(seen, [['a', 2]]);
  assert.deepEqual(counts, { spun: 0, slept: 0 });
});

test('spin: every poll of a long wait on a turn of the event loop', () => {
  const { counts, diverting, next, poll } = recorded(() => Infinity);
  diverting(poll);
  assert.equal(next(1e9), 'turn');
  assert.deepEqual(counts, { spun: 1, slept: 0 });
});
