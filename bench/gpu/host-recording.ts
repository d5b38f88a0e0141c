/**
 * bench/gpu/host-recording: the host's own time recording a training step on webgpu, under each value of an engine
 * setting — by default MCEVAL_WEBGPU_BIND_GROUPS kept and new — the values alternating round by round in one process.
 * The clock is the main thread's CPU time (Linux's /proc/self/task/<pid>/schedstat), which leaves out the driver's
 * threads: on a software adapter those share the machine's cores and make a step's wall time say little about the
 * host's work. Each round trains a fresh adapter from the same seed: three steps to warm up, then `--steps` timed
 * ones; it reports the middle step's milliseconds, the dispatches a step and the last loss (the same bits under every
 * value, where a setting changes only how the host records). Prints JSON. Elsewhere than Linux the clock is wall time.
 *
 * With `--pairs N` (two values), one adapter trains instead, and its steps alternate between the values in N pairs
 * (the order swapped every pair), the setting applied before each step: it reports each value's middle milliseconds
 * and the middle of the pairs' differences (first value's minus second's), which the driver threads' noise, moving
 * a round's whole middle here by a third, disturbs far less. Settings read at reads (the bind groups', the saved
 * tensors') and those read at each call can be paired; the losses differ step by step and are not reported.
 *
 * With `--pairs N` and two methods (`--method lora,monteclora`), two copies of the model train one adapter each, their
 * steps alternating in N pairs (the order swapped every pair): each method's middle milliseconds and dispatches a
 * step, and the middle of the pairs' ratios (second method's over the first's) — a ratio of methods that rounds in
 * separate processes, a third apart here from the driver threads' noise, cannot give.
 *
 * Usage: bash scripts/with-software-webgpu.sh node dist/bench/gpu/host-recording.js [--model builtin:small]
 *   [--method lora|lora-dropout|dora|monteclora|A,B] [--batch 1] [--length 8] [--steps 40] [--rounds 4] [--pairs N]
 *   [--setting MCEVAL_WEBGPU_BIND_GROUPS=kept,new]
 */
import { initEngine } from '../../src/engine/backends.js';
import { applyReadTimeSettings } from '../../src/engine/read-settings.js';
import { loadModel } from '../../src/models/load.js';
import { withEnv } from '../../test/with-env.js';
import { argument, middleTime } from '../options.js';
import { dispatches } from './tally.js';
import { stepper, type Method } from './step-methods.js';
import { threadCpuMs } from './thread-clock.js';

/** The main thread's CPU milliseconds (thread-clock.ts), or wall time where the system does not say. */
const clock =
  threadCpuMs === undefined
    ? { name: 'wall', now: () => performance.now() }
    : { name: 'main-thread CPU', now: threadCpuMs };

const modelSpec = argument('model', 'builtin:small');
const methods = argument('method', 'lora').split(',') as Method[];
const method = methods[0]!;
const [batch, length, steps, rounds] = ['batch', 'length', 'steps', 'rounds'].map((name, i) =>
  Number(argument(name, ['1', '8', '40', '4'][i]!)),
);
const [variable, values] = argument('setting', 'MCEVAL_WEBGPU_BIND_GROUPS=kept,new').split('=') as [string, string];

await initEngine('webgpu');
const { model } = loadModel(modelSpec);

/** One round under the setting's `value`: the middle step's host milliseconds, dispatches a step, the last loss. */
async function round(value: string) {
  return withEnv(variable, value, async () => {
    const run = stepper(model, batch!, length!, 3, method);
    try {
      for (let warm = 0; warm < 3; warm++) await run.step();
      const counted = dispatches();
      const times: number[] = [];
      let loss = NaN;
      for (let step = 0; step < steps!; step++) {
        const started = clock.now();
        const finished = run.step();
        // Recording ends when step() returns its promise: what follows is the GPU's work and the read.
        times.push(clock.now() - started);
        loss = await finished;
      }
      const perStep = counted() / steps!;
      return { value, hostMs: middleTime(times), dispatchesPerStep: perStep, loss };
    } finally {
      run.dispose();
    }
  });
}

/** `pairs` pairs of steps of one adapter, alternating between the setting's two values (module comment). */
async function paired(pairs: number) {
  const pair = values.split(',');
  if (pair.length !== 2) throw new Error('--pairs needs two values to pair');
  const [first, second] = pair as [string, string];
  const run = stepper(model, batch!, length!, 3, method);
  try {
    for (let warm = 0; warm < 3; warm++) await run.step();
    const times: Record<string, number[]> = { [first]: [], [second]: [] };
    const differences: number[] = [];
    for (let pair = 0; pair < pairs; pair++) {
      const taken: Record<string, number> = {};
      for (const value of pair % 2 === 0 ? [first, second] : [second, first])
        taken[value] = await withEnv(variable, value, async () => {
          applyReadTimeSettings();
          const started = clock.now();
          const finished = run.step();
          const ms = clock.now() - started;
          await finished;
          return ms;
        });
      times[first]!.push(taken[first]!);
      times[second]!.push(taken[second]!);
      differences.push(taken[first]! - taken[second]!);
    }
    return {
      hostMs: { [first]: middleTime(times[first]!), [second]: middleTime(times[second]!) },
      middleDifferenceMs: middleTime(differences),
    };
  } finally {
    run.dispose();
  }
}

/** `pairs` pairs of steps, one of each method on its own copy of the model, alternating (module comment). */
async function methodPairs(pairs: number) {
  const [first, second] = methods as [Method, Method];
  const copy = loadModel(modelSpec).model;
  const runs = {
    [first]: stepper(model, batch!, length!, 3, first),
    [second]: stepper(copy, batch!, length!, 3, second),
  };
  try {
    const counts: Record<string, number> = {};
    for (const [name, run] of Object.entries(runs)) {
      for (let warm = 0; warm < 3; warm++) await run.step();
      const counted = dispatches();
      await run.step();
      counts[name] = counted();
    }
    const times: Record<string, number[]> = { [first]: [], [second]: [] };
    const ratios: number[] = [];
    for (let pair = 0; pair < pairs; pair++) {
      const taken: Record<string, number> = {};
      for (const name of pair % 2 === 0 ? [first, second] : [second, first]) {
        const started = clock.now();
        const finished = runs[name]!.step();
        taken[name] = clock.now() - started;
        await finished;
      }
      times[first]!.push(taken[first]!);
      times[second]!.push(taken[second]!);
      ratios.push(taken[second]! / taken[first]!);
    }
    return {
      hostMs: { [first]: middleTime(times[first]!), [second]: middleTime(times[second]!) },
      dispatchesPerStep: counts,
      middleRatio: middleTime(ratios),
    };
  } finally {
    Object.values(runs).forEach((run) => run.dispose());
    copy.dispose();
  }
}

/** The rounds (module comment): each value's rounds' middle milliseconds and losses, and every round. */
async function byRounds() {
  const measured: ({ round: number } & Awaited<ReturnType<typeof round>>)[] = [];
  for (let r = 0; r < rounds!; r++)
    for (const value of values.split(',')) measured.push({ round: r, ...(await round(value)) });
  const byValue = Object.fromEntries(
    values.split(',').map((value) => {
      const own = measured.filter((entry) => entry.value === value);
      const losses = [...new Set(own.map((entry) => entry.loss))];
      return [value, { hostMs: own.map((entry) => entry.hostMs), losses }];
    }),
  );
  return { steps, byValue, rounds: measured };
}

const pairs = Number(argument('pairs', '0'));
if (methods.length > 2 || (methods.length === 2 && pairs === 0))
  throw new Error('--method takes two methods only with --pairs N, which pairs their steps');
const measured =
  pairs === 0 ? await byRounds() : { pairs, ...(await (methods.length === 2 ? methodPairs(pairs) : paired(pairs))) };
console.log(
  JSON.stringify(
    { model: modelSpec, method: methods.join(','), batch, length, clock: clock.name, variable, ...measured },
    null,
    2,
  ),
);
model.dispose();
process.exit(0);
