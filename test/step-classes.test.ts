/**
 * StepClasses (engine/replay/step-classes.ts), the replay's bookkeeping, on stand-in steps: a step is its class's name
 * (the commands and objects it would issue), and a plan is learnt from any three steps of one class. The replays arm
 * only where the two latest steps, one right after the other, are two learnt classes' own and each class has followed
 * the other — in one run of a shape or over several runs apart; a step unlike its class's plan drops it; shapes and
 * classes past their numbers go, their plans released. The captures, Dawn's objects and the bits are
 * test/webgpu/fine-tune-replay.test.ts's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLASSES_PER_SHAPE,
  LEARNT_FROM,
  SHAPES_KEPT,
  StepClasses,
  UNLEARNT_SHAPES_KEPT,
  type Placement,
} from '../src/engine/replay/step-classes.js';

/** A stand-in step: its class's name, and whether its values are ones its class's plan would not make. */
interface Step {
  readonly name: string;
  readonly unlike?: boolean;
}

interface Plan {
  readonly name: string;
  readonly template: Step;
  readonly twin?: boolean;
}

/** `shapes`: how many shapes the run's steps can take, where known. */
function classes(shapes?: number) {
  const released: Plan[] = [];
  const learnt: string[] = [];
  const made = new StepClasses<Step, Plan>(
    {
      differ: (a, b) => (a.name === b.name ? undefined : `${a.name} against ${b.name}`),
      learn: (steps) => {
        assert.equal(steps.length, LEARNT_FROM);
        learnt.push(steps[0]!.name);
        return { name: steps[0]!.name, template: steps[1]! };
      },
      check: (plan, step) => (step.unlike === true ? `${plan.name}'s values not made` : undefined),
      template: (plan) => plan.template,
      twin: (plan) => ({ ...plan, twin: true }),
      release: (plan) => released.push(plan),
    },
    shapes,
  );
  /** Places each named step of `key` in turn (`X!`: an X unlike its plan); what each placement came to. */
  const run = (key: string, names: string) =>
    names.split(' ').map((name) => made.place(key, { name: name.replace('!', ''), unlike: name.endsWith('!') }));
  return { made, released, learnt, run };
}

/** Each placement's turns as their plans' names (twins marked), '-' where none. */
const turnsOf = (placed: readonly Placement<Plan>[]) =>
  placed.map(({ turns }) => (turns === undefined ? '-' : turns.map((p) => p.name + (p.twin ? "'" : '')).join('+')));

test('one run of a shape alternating two classes: the replays arm once both have three steps', () => {
  const { run, learnt } = classes();
  assert.deepEqual(turnsOf(run('K', 'X Y X Y X Y')), ['-', '-', '-', '-', '-', 'X+Y']);
  assert.deepEqual(learnt, ['X', 'Y']);
});

test('a first step unlike the rest (the pool not settled) is its own class and does not hold the replays back', () => {
  const { run } = classes();
  assert.deepEqual(turnsOf(run('K', 'W X Y X Y X Y')), ['-', '-', '-', '-', '-', '-', 'X+Y']);
});

test('short runs of a shape between another shape: the classes fill over the runs and arm in the third', () => {
  const { run } = classes();
  // Each run's first step holds on the other shape's numbers (a class of its own); Y follows X only in a run of four.
  // Each step here is recorded (none replayed): the third run's last arms again.
  const first = turnsOf(run('K', 'Z1 Y X Y'));
  run('L', 'A B A');
  const second = turnsOf(run('K', 'Z2 Y X Y'));
  run('L', 'A B');
  const third = turnsOf(run('K', 'Z3 Y X Y'));
  assert.deepEqual(
    [first, second, third],
    [
      ['-', '-', '-', '-'],
      ['-', '-', '-', '-'],
      ['-', '-', 'Y+X', 'X+Y'],
    ],
  );
});

test('runs of three never arm: the second class never follows the third, and those steps make no headway', () => {
  const { run } = classes();
  const placed: Placement<Plan>[] = [];
  for (let i = 0; i < 6; i++) {
    placed.push(...run('K', `Z${i} Y X`));
    run('L', 'A');
  }
  assert.deepEqual(
    placed.map(({ turns }) => turns),
    placed.map(() => undefined),
  );
  // The last run's Y and X: their classes' plans learnt, nothing new.
  assert.deepEqual(
    placed.slice(-2).map(({ headway }) => headway),
    [false, false],
  );
});

test('a step between (not placed, or replays) means the next was not recorded right after the one before', () => {
  const { made, run } = classes();
  const placed: Placement<Plan>[] = [];
  for (const name of 'X Y X Y X Y X Y'.split(' ')) {
    placed.push(made.place('K', { name }));
    made.interrupt();
  }
  assert.deepEqual(turnsOf(placed), ['-', '-', '-', '-', '-', '-', '-', '-']);
  // Once recorded one after the other both ways, they arm.
  assert.deepEqual(turnsOf(run('K', 'X Y X')), ['-', '-', 'Y+X']);
});

test("a step with a class's commands but values its plan does not make drops the plan", () => {
  const { run, released, learnt } = classes();
  run('K', 'X Y X Y X');
  // X's plan learnt; Y's third step is unlike nothing yet (no plan), so Y learns too and arms.
  assert.deepEqual(turnsOf(run('K', 'Y')), ['X+Y']);
  // An X unlike its plan: the plan goes (released), the class begins again from it; no replays until it is learnt
  // again.
  assert.deepEqual(turnsOf(run('K', 'X! Y X Y')), ['-', '-', '-', '-']);
  assert.deepEqual(
    released.map((plan) => plan.name),
    ['X'],
  );
  assert.deepEqual(turnsOf(run('K', 'X')), ['Y+X']);
  assert.deepEqual(learnt, ['X', 'Y', 'X']);
});

test('steps of one class that follow each other (no held numbers): its plan and its twin take turns', () => {
  const { made, run, released } = classes();
  assert.deepEqual(turnsOf(run('K', 'S S S')), ['-', '-', "S+S'"]);
  made.forget('K');
  assert.deepEqual(
    released.map((plan) => plan.name + (plan.twin ? "'" : '')),
    ['S', "S'"],
  );
});

test("the shape used longest ago goes past SHAPES_KEPT, with its plans; the steps kept are the classes'", () => {
  const { made, run, released } = classes();
  run('K0', 'X Y X Y X Y');
  assert.deepEqual(
    [...made.steps()].map((step) => step.name),
    ['X', 'Y'],
  );
  for (let shape = 1; shape <= SHAPES_KEPT; shape++) run(`K${shape}`, 'A');
  assert.deepEqual(
    released.map((plan) => plan.name),
    ['X', 'Y'],
  );
  assert.equal([...made.steps()].length, SHAPES_KEPT);
  // K0 again: nothing kept of it.
  assert.deepEqual(turnsOf(run('K0', 'X Y')), ['-', '-']);
});

test('past CLASSES_PER_SHAPE classes, the one matched longest ago goes', () => {
  const { made, run, released, learnt } = classes();
  run('K', 'X Y X Y');
  // First steps of returns, each a class of its own: X and Y, matched since, stay.
  for (let i = 0; i < CLASSES_PER_SHAPE; i++) {
    made.interrupt();
    run('K', `Z${i} Y X`);
  }
  const kept = new Set([...made.steps()].map((step) => step.name));
  assert.ok(kept.has('X') && kept.has('Y'), [...kept].join(' '));
  assert.equal(kept.size, CLASSES_PER_SHAPE);
  // Their plans, learnt in the first return, kept since.
  assert.deepEqual(learnt, ['Y', 'X']);
  assert.deepEqual(released, []);
});

test('where the data makes more shapes than SHAPES_KEPT, only the latest shapes without a plan are kept', () => {
  const { made, run, released } = classes(SHAPES_KEPT + 1);
  run('K0', 'X Y X Y X Y');
  for (let shape = 1; shape <= UNLEARNT_SHAPES_KEPT + 1; shape++) run(`K${shape}`, 'A B');
  // K0's plans stay; K1's steps went when a shape after it made one too many without a plan.
  assert.deepEqual(released, []);
  assert.deepEqual(
    [...made.steps()].map((step) => step.name),
    ['X', 'Y', ...Array.from({ length: UNLEARNT_SHAPES_KEPT }, () => ['A', 'B']).flat()],
  );
  // With as many shapes as SHAPES_KEPT, each is kept until it can come back.
  const few = classes(SHAPES_KEPT);
  for (let shape = 1; shape <= SHAPES_KEPT; shape++) few.run(`K${shape}`, 'A B');
  assert.equal([...few.made.steps()].length, 2 * SHAPES_KEPT);
});
