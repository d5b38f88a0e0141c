/**
 * Where the host's time goes while it records a training step: V8's CPU profile (node:inspector) of each step's
 * recording — from the call of step() to its return; the GPU's work and the read are left out — summed by function
 * over the steps — each function's own samples (self) and everything under it once per sample (inclusive). On the H200
 * (2026-12-04) the host recorded 69–97% of every step, and the RoBERTa shape's MonteCLoRA step took 57 ms more than
 * LoRA's for 23 more dispatches, where this machine's host shows 3–4 ms: the kit's profiles say which functions take
 * the host's time on the GPU machine's own CPU, and which take MonteCLoRA's extra.
 */
import { Session } from 'node:inspector/promises';

/** The parts of a V8 CPU profile (Profiler.stop's `profile`) read here. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
    readonly children?: readonly number[];
  }[];
  /** The node sampled at each sample. */
  readonly samples: readonly number[];
  /** Microseconds from the sample before (from startTime for the first). */
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** V8's names of nodes that are not functions: the tree's root and the time no script ran. */
const NOT_FUNCTIONS = new Set(['(root)', '(idle)', '(program)']);

/** A function's name and place, its file shortened to the path inside node_modules/ or dist/ (or its own name). */
export function functionKey(frame: CpuProfile['nodes'][number]['callFrame']): string {
  const { url } = frame;
  const packaged = url.lastIndexOf('/node_modules/');
  const built = url.indexOf('/dist/');
  const file =
    packaged >= 0
      ? url.slice(packaged + '/node_modules/'.length)
      : built >= 0
        ? url.slice(built + '/dist/'.length)
        : url.slice(url.lastIndexOf('/') + 1);
  // V8 counts lines from 0.
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

/**
 * Each function's milliseconds per profile, inclusive (every sample under it, once each) and self (the samples taken
 * in it), and the profiles' sampled milliseconds per profile: a sample lasts until the next one (the last until the
 * profile's end). Samples taken inside node:inspector (the profiler's own stop) are left out, and so are the root and
 * V8's idle and program time.
 */
export function functionTimes(profiles: readonly CpuProfile[]): {
  msPerStep: number;
  inclusive: Map<string, number>;
  self: Map<string, number>;
} {
  const inclusive = new Map<string, number>();
  const self = new Map<string, number>();
  let sampled = 0;
  for (const profile of profiles) {
    const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
    // Each node's name, made once: every sample under a node passes through it.
    const keys = new Map(profile.nodes.map((node) => [node.id, functionKey(node.callFrame)]));
    const parents = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
    let at = profile.startTime;
    const times = profile.timeDeltas.map((delta) => (at += delta));
    profile.samples.forEach((id, i) => {
      const micros = (i + 1 < times.length ? times[i + 1]! : profile.endTime) - times[i]!;
      const stack: number[] = [];
      for (let node: number | undefined = id; node !== undefined; node = parents.get(node)) stack.push(node);
      if (stack.some((node) => frames.get(node)!.url.startsWith('node:inspector'))) return;
      if (NOT_FUNCTIONS.has(frames.get(id)!.functionName)) return;
      sampled += micros;
      const top = keys.get(id)!;
      self.set(top, (self.get(top) ?? 0) + micros);
      // A function on the stack twice (recursion) counts once.
      const functions = stack.filter((node) => !NOT_FUNCTIONS.has(frames.get(node)!.functionName));
      for (const key of new Set(functions.map((node) => keys.get(node)!)))
        inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
    });
  }
  const steps = Math.max(profiles.length, 1);
  for (const times of [inclusive, self]) for (const [key, micros] of times) times.set(key, micros / 1000 / steps);
  return { msPerStep: sampled / 1000 / steps, inclusive, self };
}

/**
 * V8's profile of the recording of each of `steps` steps (`step()` records a step and returns the wait for its loss,
 * which is awaited unprofiled), sampled every `intervalUs` micros.
 */
export async function profileRecordings(
  step: () => Promise<unknown>,
  steps: number,
  intervalUs = 50,
): Promise<CpuProfile[]> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
    const profiles: CpuProfile[] = [];
    for (let i = 0; i < steps; i++) {
      await session.post('Profiler.start');
      const loss = step();
      const { profile } = await session.post('Profiler.stop');
      profiles.push(profile as unknown as CpuProfile);
      await loss;
    }
    return profiles;
  } finally {
    await session.post('Profiler.disable').catch(() => undefined);
    session.disconnect();
  }
}

/** The `count` functions that take the most of a step, inclusive ms, most first. */
export function topFunctions(functions: ReadonlyMap<string, number>, count: number) {
  return [...functions]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => ({ function: name, ms }));
}

/**
 * The `count` functions whose inclusive ms per step differ most between two profiles' sums (`second` − `first`, by
 * size), each with both.
 */
export function largestDifferences(
  first: ReadonlyMap<string, number>,
  second: ReadonlyMap<string, number>,
  count: number,
) {
  return [...new Set([...first.keys(), ...second.keys()])]
    .map((name) => ({ function: name, first: first.get(name) ?? 0, second: second.get(name) ?? 0 }))
    .map((entry) => ({ ...entry, difference: entry.second - entry.first }))
    .sort((a, b) => Math.abs(b.difference) - Math.abs(a.difference))
    .slice(0, count);
}
