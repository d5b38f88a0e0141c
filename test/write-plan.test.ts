/**
 * How a replayed step's writes are made (src/engine/replay/write-plan.ts, step-values.ts), on made-up captured steps:
 * an upload noted with its value is written whole from the later step's; a uniform word that changed between two steps
 * as a drawn value's word did is put in from the later step's value, the rest kept; a change no value explains, other
 * commands or objects, or a third step the plan does not make, give no plan. The values: drawn again in order, uploads
 * made from a later step's inputs through what was derived from them, nothing noted outside a capture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LiveBuffer, LiveCommand } from '../src/engine/replay/command-capture.js';
import { checkPlan, planWrites, plannedWrites, type CapturedStep } from '../src/engine/replay/write-plan.js';
import {
  beginValues,
  derived,
  drawnValue,
  noteUpload,
  takeUploadTag,
  takeValues,
  type MadeValue,
} from '../src/engine/replay/step-values.js';

const buffer = (usage: number): LiveBuffer => ({
  usage,
  size: 64,
  mapAsync: async () => undefined,
  getMappedRange: () => new ArrayBuffer(0),
  unmap: () => undefined,
  destroy: () => undefined,
});
const [uniforms, ids, output, staging, otherStaging] = [
  buffer(0x40),
  buffer(0x80),
  buffer(0x80),
  buffer(0x1),
  buffer(0x1),
];
const pipeline = {};
const group = {};

const words = (...values: number[]) => new Uint8Array(Uint32Array.from(values).buffer);
const drawn = (...values: number[]): MadeValue => ({ kind: 'drawn', bytes: words(...values), again: () => words() });
const upload = (...values: number[]): MadeValue => ({ kind: 'upload', bytes: words(...values), again: () => words() });

/** A step: a uniform write (a size, a key, a scale), a batch's upload (value 1), a dispatch and its read. */
function step(key: number, scale: number, tokens: number[], values: MadeValue[]): CapturedStep {
  const commands: LiveCommand[] = [
    { kind: 'write', buffer: uniforms, offset: 0, bytes: words(16, key, scale) },
    { kind: 'write', buffer: ids, offset: 0, bytes: words(...tokens), value: 1 },
    { kind: 'dispatch', pipeline, groups: [[0, group]], workgroups: [4, 1, 1] },
    { kind: 'copy', from: output, fromByte: 0, to: staging, toByte: 0, size: 4 },
    { kind: 'submit' },
  ];
  return { commands, values };
}

const first = step(0xaaaa, 7, [5, 6], [drawn(0xaaaa, 7), upload(5, 6)]);
const second = step(0xbbbb, 8, [9, 9], [drawn(0xbbbb, 8), upload(9, 9)]);

test('a plan puts each value where it changed the step: uploads whole, uniform words in place', () => {
  const plan = planWrites(first, second);
  assert.notEqual(typeof plan, 'string', String(plan));
  if (typeof plan === 'string') return;
  const made = plannedWrites(plan, [words(0xcccc, 3), words(1, 2)]);
  assert.deepEqual(made, [words(16, 0xcccc, 3), words(1, 2)]);
  // A third step the plan makes from its values is checked as made.
  assert.equal(checkPlan(plan, step(0xdddd, 2, [4, 4], [drawn(0xdddd, 2), upload(4, 4)])), undefined);
});

test('no plan where a change has no value to make it, or the commands or their objects differ', () => {
  // The scale changed, but the step drew only the key.
  const unexplained = step(0xbbbb, 8, [9, 9], [drawn(0xbbbb, 7), upload(9, 9)]);
  assert.match(String(planWrites(first, unexplained)), /write 0 changes at byte 8 with no value/);
  const otherBuffer = { ...second, commands: second.commands.map((c, i) => (i === 1 ? { ...c, buffer: output } : c)) };
  assert.match(String(planWrites(first, otherBuffer as CapturedStep)), /command 1 differs/);
  const otherValues = { ...second, values: second.values.slice(0, 1) };
  assert.match(String(planWrites(first, otherValues)), /other values/);
});

test("the step's read may go to another staging buffer (a replay reads into its own); no other copy may", () => {
  const withCopy = (step: CapturedStep, at: number, to: LiveBuffer) => ({
    ...step,
    commands: step.commands.map((c, i) => (i === at && c.kind === 'copy' ? { ...c, to } : c)),
  });
  // tfjs's pool gave the later step's read another staging buffer: its previous one was still mapped.
  assert.notEqual(typeof planWrites(first, withCopy(second, 3, otherStaging)), 'string');
  const plan = planWrites(first, second);
  if (typeof plan === 'string') assert.fail(plan);
  assert.equal(
    checkPlan(plan, withCopy(step(0xdddd, 2, [4, 4], [drawn(0xdddd, 2), upload(4, 4)]), 3, otherStaging)),
    undefined,
  );
  // A copy that is not the step's read, into another buffer: other work.
  const copied: CapturedStep = {
    ...second,
    commands: [{ kind: 'copy', from: output, fromByte: 0, to: ids, toByte: 0, size: 4 }, ...second.commands],
  };
  const elsewhere = withCopy(copied, 0, uniforms);
  assert.notEqual(typeof planWrites(copied, copied), 'string');
  assert.match(String(planWrites(copied, elsewhere)), /command 0 differs/);
  // A read at another place.
  assert.match(String(planWrites(first, withCopy(second, 3, output))), /read at other places/);
});

test('a plan that does not make a third step is refused: a word that had not changed does there', () => {
  const plan = planWrites(first, second);
  if (typeof plan === 'string') assert.fail(plan);
  // The size word (16) was the same in the two steps and is kept; here it is not.
  const third = step(0xdddd, 2, [4, 4], [drawn(0xdddd, 2), upload(4, 4)]);
  const moved = {
    ...third,
    commands: third.commands.map((c, i) => (i === 0 && c.kind === 'write' ? { ...c, bytes: words(17, 0xdddd, 2) } : c)),
  };
  assert.match(String(checkPlan(plan, moved)), /write 0 is not the one the plan makes/);
});

test("values: drawn again in order, uploads made once from a later step's inputs, none outside a capture", () => {
  let draws = 0;
  const draw = () =>
    drawnValue(
      () => ++draws,
      (n) => words(n),
    );
  const batch = { ids: Int32Array.of(1, 2, 3) };
  const unrelated = Int32Array.of(7);
  assert.equal(draw(), 1);
  beginValues([batch]);
  assert.equal(draw(), 2);
  const shifted = derived([batch, undefined], (b, absent) => b.ids.map((id) => id + (absent === undefined ? 10 : 0)));
  noteUpload(shifted, 'int32');
  assert.equal(takeUploadTag(), 1);
  assert.equal(takeUploadTag(), undefined);
  noteUpload(unrelated, 'int32');
  noteUpload(
    derived([unrelated], (u) => u.map((x) => x + 1)),
    'int32',
  );
  assert.equal(takeUploadTag(), undefined);
  const values = takeValues();
  assert.deepEqual(
    values.map((value) => [value.kind, Array.from(value.bytes)]),
    [
      ['drawn', Array.from(words(2))],
      ['upload', Array.from(words(11, 12, 13))],
    ],
  );
  // A later step: the draw draws again (3), the upload is made from its batch.
  const later = values.map((value) => value.again([{ ids: Int32Array.of(4, 5, 6) }]));
  assert.deepEqual(later, [words(3), words(14, 15, 16)]);
  // Two uploads of one derived array make it once per later step's inputs.
  let made = 0;
  beginValues([batch]);
  const doubled = derived([batch], (b) => {
    made += 1;
    return b.ids.map((id) => 2 * id);
  });
  noteUpload(doubled, 'int32');
  noteUpload(doubled, 'int32');
  const twice = takeValues();
  const inputs = [{ ids: Int32Array.of(1, 1, 1) }];
  assert.deepEqual(
    twice.map((value) => value.again(inputs)),
    [words(2, 2, 2), words(2, 2, 2)],
  );
  assert.equal(made, 2);
  // Nothing is noted once the capture is taken.
  draw();
  noteUpload(shifted, 'int32');
  assert.deepEqual(takeValues(), []);
});
