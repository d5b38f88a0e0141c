/**
 * How a later step's writes are made from a captured step's: which writes carry a value of the step (step-values.ts)
 * and where, found by comparing two captured steps of one shape — an upload by the value it was noted with, a value
 * inside a kernel's uniforms (a dropout key, AdamW's coefficients) by each 4-byte word that changed between them and
 * the value word that changed the same way. A plan is trusted only where it then makes a third step's writes, byte for
 * byte, from that step's values (`checkPlan`): a word that changes with no value to make it, or a value taken for the
 * wrong one, fails there.
 */
import type { LiveCommand } from './command-capture.js';
import { lastReadAt } from './issue-step.js';
import type { MadeValue } from './step-values.js';

/** A step as captured for replay: its commands over Dawn's objects and the values it made, in order. */
export interface CapturedStep {
  readonly commands: readonly LiveCommand[];
  readonly values: readonly MadeValue[];
}

/** Where one write's bytes come from: the template's, a value's whole bytes, or the template's with words put in. */
type WriteSource =
  | { readonly kind: 'template' }
  | { readonly kind: 'value'; readonly value: number }
  | { readonly kind: 'words'; readonly words: readonly (readonly [at: number, value: number, word: number])[] };

export interface WritePlan {
  /** The captured step a replay issues again. */
  readonly template: CapturedStep;
  /** Per write of the template, in order. */
  readonly writes: readonly WriteSource[];
}

type Write = Extract<LiveCommand, { kind: 'write' }>;

const writesOf = (step: CapturedStep) => step.commands.filter((command): command is Write => command.kind === 'write');

const sameList = <T>(a: readonly T[], b: readonly T[], same: (x: T, y: T) => boolean) =>
  a.length === b.length && a.every((x, i) => same(x, b[i]!));

/**
 * Whether two commands are the same over the same objects, a write's bytes aside, and the staging buffer where `isRead`
 * (the step's read: a replay reads into a staging buffer of its own, step-replayer.ts's `turnOf`, while the recorded
 * steps took whichever one tfjs's pool had free, which depends on when the read before had ended).
 */
function sameCommand(a: LiveCommand, b: LiveCommand, isRead: boolean): boolean {
  switch (a.kind) {
    case 'dispatch':
      return (
        b.kind === 'dispatch' &&
        a.pipeline === b.pipeline &&
        sameList(a.groups, b.groups, (x, y) => x[0] === y[0] && x[1] === y[1]) &&
        sameList(a.workgroups, b.workgroups, (x, y) => x === y)
      );
    case 'copy':
      return (
        b.kind === 'copy' &&
        a.from === b.from &&
        (a.to === b.to || isRead) &&
        a.fromByte === b.fromByte &&
        a.toByte === b.toByte &&
        a.size === b.size
      );
    case 'write':
      return (
        b.kind === 'write' &&
        a.buffer === b.buffer &&
        a.offset === b.offset &&
        a.bytes.length === b.bytes.length &&
        a.value === b.value
      );
    case 'submit':
      return b.kind === 'submit';
  }
}

/** Why two captured steps cannot share a plan (other commands, objects or values), or undefined where they can. */
export function stepsDiffer(a: CapturedStep, b: CapturedStep): string | undefined {
  const length = Math.max(a.commands.length, b.commands.length);
  const read = lastReadAt(a.commands);
  if (read !== lastReadAt(b.commands)) return 'the steps read at other places';
  for (let i = 0; i < length; i++) {
    const [x, y] = [a.commands[i], b.commands[i]];
    if (x === undefined || y === undefined || !sameCommand(x, y, i === read))
      return `command ${i} differs (${x?.kind ?? 'none'} against ${y?.kind ?? 'none'})`;
  }
  if (!sameList(a.values, b.values, (x, y) => x.kind === y.kind && x.bytes.length === y.bytes.length))
    return `the steps made other values (${a.values.length} against ${b.values.length})`;
  return undefined;
}

const word = (bytes: Uint8Array, at: number) =>
  bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);

/** Every drawn value's word by the pair of bits it had in the two steps: the first value and word with that pair. */
function drawnWords(first: CapturedStep, second: CapturedStep): Map<string, readonly [number, number]> {
  const pairs = new Map<string, readonly [number, number]>();
  first.values.forEach((value, v) => {
    if (value.kind !== 'drawn') return;
    const other = second.values[v]!.bytes;
    for (let at = 0; at + 4 <= value.bytes.length; at += 4) {
      const key = `${word(value.bytes, at)},${word(other, at)}`;
      if (!pairs.has(key)) pairs.set(key, [v, at]);
    }
  });
  return pairs;
}

/**
 * The plan that makes `second`'s writes from its values, learnt from how they differ from `first`'s (a step of the same
 * shape): or why there is none.
 */
export function planWrites(first: CapturedStep, second: CapturedStep): WritePlan | string {
  const differ = stepsDiffer(first, second);
  if (differ !== undefined) return differ;
  const pairs = drawnWords(first, second);
  const [before, after] = [writesOf(first), writesOf(second)];
  const writes: WriteSource[] = [];
  for (let w = 0; w < after.length; w++) {
    const [a, b] = [before[w]!.bytes, after[w]!.bytes];
    if (after[w]!.value !== undefined) {
      writes.push({ kind: 'value', value: after[w]!.value! });
      continue;
    }
    const words: [number, number, number][] = [];
    for (let at = 0; at < b.length; at += 4) {
      if (at + 4 > b.length) {
        if (a.subarray(at).some((byte, i) => byte !== b[at + i])) return `write ${w} changes in its last bytes`;
        continue;
      }
      const [x, y] = [word(a, at), word(b, at)];
      if (x === y) continue;
      const source = pairs.get(`${x},${y}`);
      if (source === undefined) return `write ${w} changes at byte ${at} with no value of the step that makes it`;
      words.push([at, source[0], source[1]]);
    }
    writes.push(words.length === 0 ? { kind: 'template' } : { kind: 'words', words });
  }
  return { template: second, writes };
}

/** The writes of a step whose values are `values` (each value's bytes, in the template's order), by `plan`. */
export function plannedWrites(plan: WritePlan, values: readonly Uint8Array[]): Uint8Array[] {
  const template = writesOf(plan.template);
  return plan.writes.map((source, w) => {
    const bytes = template[w]!.bytes;
    switch (source.kind) {
      case 'template':
        return bytes;
      case 'value': {
        const value = values[source.value]!;
        if (value.length !== bytes.length)
          throw new Error(
            `A replay's value ${source.value} has ${value.length} bytes where the step wrote ${bytes.length}.`,
          );
        return value;
      }
      case 'words': {
        const made = bytes.slice();
        for (const [at, v, from] of source.words) made.set(values[v]!.subarray(from, from + 4), at);
        return made;
      }
    }
  });
}

/**
 * Why `plan` does not make `step`'s writes from `step`'s values (a step of the same shape), or undefined where it does.
 */
export function checkPlan(plan: WritePlan, step: CapturedStep): string | undefined {
  const differ = stepsDiffer(plan.template, step);
  if (differ !== undefined) return differ;
  const made = plannedWrites(
    plan,
    step.values.map((value) => value.bytes),
  );
  const actual = writesOf(step);
  const wrong = made.findIndex((bytes, w) => bytes.some((byte, i) => byte !== actual[w]!.bytes[i]));
  return wrong < 0 ? undefined : `write ${wrong} is not the one the plan makes`;
}
