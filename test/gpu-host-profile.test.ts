/**
 * bench/gpu/host-profile.ts, which sums V8's CPU profiles of step recordings by function for the kit: a sample lasts
 * until the next, a function counts the samples under it once each (recursion included) and its own apart, the
 * profiler's own stop and V8's idle time are left out, and two methods' sums are compared function by function.
 * Profiles made by hand here, in V8's format (nodes with call frames and children, samples, timeDeltas in µs); and one
 * real profile of a loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  functionKey,
  functionTimes,
  largestDifferences,
  profileRecordings,
  topFunctions,
  type CpuProfile,
} from '../bench/gpu/host-profile.js';

const frame = (functionName: string, url = 'file:///work/main/dist/src/engine/x.js', lineNumber = 9) => ({
  functionName,
  url,
  lineNumber,
});

/**
 * root → step → { draw → draw (recursion), record }, root → post (node:inspector), root → (idle). Samples: step 100 µs,
 * record 300, draw (inner) 200, post 50, idle 400, record 150 (the last, until endTime).
 */
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)', ''), children: [2, 6, 7] },
    { id: 2, callFrame: frame('step', 'file:///kit/bench.mjs', 40), children: [3, 5] },
    { id: 3, callFrame: frame('draw'), children: [4] },
    { id: 4, callFrame: frame('draw') },
    { id: 5, callFrame: frame('record', 'file:///work/main/node_modules/@tensorflow/tfjs-core/dist/tf-core.js', 4) },
    { id: 6, callFrame: frame('post', 'node:inspector/promises', 1) },
    { id: 7, callFrame: frame('(idle)', '') },
  ],
  samples: [2, 5, 4, 6, 7, 5],
  startTime: 1000,
  timeDeltas: [10, 100, 300, 200, 50, 400],
  endTime: 1000 + 1060 + 150,
};

const STEP = 'step bench.mjs:41';
const DRAW = 'draw src/engine/x.js:10';
const RECORD = 'record @tensorflow/tfjs-core/dist/tf-core.js:5';

test('a function is named by its name and its place inside dist/, node_modules/ or its own file, lines from 1', () => {
  assert.equal(functionKey(frame('draw')), DRAW);
  assert.equal(functionKey(PROFILE.nodes[4]!.callFrame), RECORD);
  assert.equal(functionKey(frame('', 'file:///kit/bundle.mjs', 0)), '(anonymous) bundle.mjs:1');
});

test('a sample lasts until the next; a function counts each sample under it once; inspector and idle out', () => {
  const { msPerStep, inclusive, self } = functionTimes([PROFILE]);
  // step 100 + record 300 + draw 200 + record 150 (the last sample, until endTime); post's 50 and idle's 400 out.
  assert.equal(msPerStep, 0.75);
  assert.deepEqual(Object.fromEntries(inclusive), { [STEP]: 0.75, [DRAW]: 0.2, [RECORD]: 0.45 });
  assert.deepEqual(Object.fromEntries(self), { [STEP]: 0.1, [DRAW]: 0.2, [RECORD]: 0.45 });
  // Per step: two profiles of the same samples give the same milliseconds.
  assert.deepEqual(functionTimes([PROFILE, PROFILE]), { msPerStep, inclusive, self });
});

test('the top functions come most first, and differences by size with both sides', () => {
  const functions = functionTimes([PROFILE]).inclusive;
  assert.deepEqual(
    topFunctions(functions, 2).map((entry) => entry.function),
    [STEP, RECORD],
  );
  const second = new Map([
    [STEP, 1.0],
    [RECORD, 0.05],
    ['new other.js:1', 0.1],
  ]);
  const changes = largestDifferences(functions, second, 3);
  assert.deepEqual(
    changes.map((entry) => [entry.function, entry.first, entry.second]),
    [
      [RECORD, 0.45, 0.05],
      [STEP, 0.75, 1.0],
      [DRAW, 0.2, 0],
    ],
  );
  assert.ok(Math.abs(changes[0]!.difference + 0.4) < 1e-12);
});

test('a real profile of a recording: the function that ran is in it, the awaited part is not', async () => {
  const busy = (ms: number) => {
    const until = performance.now() + ms;
    let spins = 0;
    while (performance.now() < until) spins += 1;
    return spins;
  };
  function recordSomething() {
    busy(20);
    return new Promise<void>((resolve) => setTimeout(resolve, 30));
  }
  const profiles = await profileRecordings(recordSomething, 3, 100);
  assert.equal(profiles.length, 3);
  const { msPerStep, inclusive } = functionTimes(profiles);
  const recorded = [...inclusive].find(([name]) => name.startsWith('recordSomething '));
  assert.ok(recorded !== undefined, [...inclusive.keys()].join(', '));
  // Up to the 20 ms busy (a loaded machine samples less of it: 9.8 ms once, beside another CI run), and not the 30 ms
  // awaited after (which the profile ends before).
  assert.ok(recorded[1] > 5 && recorded[1] < 29, `${recorded[1]} ms`);
  assert.ok(msPerStep < 29, `${msPerStep} ms`);
});
