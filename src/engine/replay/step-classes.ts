/**
 * Which recorded steps a replay may stand for, and when the replays may begin (step-replayer.ts keeps the captures,
 * the pool and the replays; this, the bookkeeping). Each step is put in its shape's class of steps that issue the same
 * commands over the same objects. A class's plan is learnt from its first steps (`LEARNT_FROM`) — not necessarily
 * consecutive ones, so a shape that comes back in short runs (batches of several lengths, a preset's `padToMultipleOf`
 * and `groupByLength`) fills its classes over its runs. The replays begin where the two latest steps, recorded one
 * right after the other, are each a learnt class's own and each class has followed the other before: the two classes
 * then take turns from the next step. Both conditions are needed: a class's buffers are proven free for it only by a
 * step that has just used them, and its plan is known to hold on what the other class leaves only where one of its
 * steps followed one of the other's (fineTune's steps hold on the step before: its numbers take turns in two buffers).
 * A step with a class's commands whose values its plan does not make drops the plan, and the class begins again.
 */

/** What the classes are told of steps and plans. */
export interface ClassRules<Step, Plan extends object> {
  /** Why two steps are not of one class (other commands or objects), or undefined where they are. */
  differ(a: Step, b: Step): string | undefined;
  /** The plan learnt from a class's first `LEARNT_FROM` steps, or why there is none. */
  learn(steps: readonly Step[]): Plan | string;
  /** Why `plan` does not make `step` (a step of its class), or undefined where it does. */
  check(plan: Plan, step: Step): string | undefined;
  /** The step a plan was learnt from that its class's steps are compared with. */
  template(plan: Plan): Step;
  /** The plan again, for a class that takes both turns (its steps follow each other): a read of its own, say. */
  twin(plan: Plan): Plan;
  /** Frees a plan (or twin) no longer kept; none of its replays is in flight. */
  release(plan: Plan): void;
}

/** A class's steps a plan is learnt from (for write-plan.ts, the first two; the third checks it). */
export const LEARNT_FROM = 3;
/** Classes kept per shape, the latest matched last: a return's first step, held on another shape's, makes its own. */
export const CLASSES_PER_SHAPE = 4;
/** Shapes whose classes are kept, the latest used last: a multiple of 8 makes 16 of 128-token data. */
export const SHAPES_KEPT = 16;
/**
 * Shapes without a plan whose classes are kept where the data makes more shapes than `SHAPES_KEPT` (each sentence
 * its own length, say): there a shape comes back too seldom to learn from its returns, and the buffers each held
 * (the pool keeps them until it does) would cost more than they pay — on SST-2 in batches padded to their longest,
 * the pool's peak was 655 MB with 16 such shapes kept, 182 to 208 MB with one, against 153 MB recorded.
 */
export const UNLEARNT_SHAPES_KEPT = 1;

interface StepClass<Step, Plan> {
  /** Its steps until a plan is learnt from them (at most `LEARNT_FROM`), the first defining the class. */
  steps: Step[];
  plan?: Plan;
  /** The plan's twin, where the class has taken both turns. */
  twin?: Plan;
  /** The classes one of whose steps one of this class's steps was recorded right after (both placed, of one shape). */
  readonly follows: WeakSet<StepClass<Step, Plan>>;
}

/** What placing a step came to. */
export interface Placement<Plan> {
  /**
   * Whether the step made headway towards replays: the first of its shape, one like an earlier step before the class's
   * plan was learnt, or replays armed by it.
   */
  readonly headway: boolean;
  /** The two plans the replays take turns in from the next step (the first first), where they may begin. */
  readonly turns?: readonly [Plan, Plan];
}

export class StepClasses<Step, Plan extends object> {
  /** Each shape's classes, by key, the latest used last. */
  private readonly shapes = new Map<string, StepClass<Step, Plan>[]>();
  /** Shapes ever placed (one seen anew is headway). */
  private readonly seen = new Set<string>();
  /** The shape and class of the latest placed step, until something comes between it and the next. */
  private previous: { readonly key: string; readonly kind: StepClass<Step, Plan> } | undefined;
  /** Counts changes to the steps and plans kept (a reader's list of their buffers is made again on a change). */
  changes = 0;
  /** Why the latest step gave no plan or dropped one (a test's and a reader's clue). */
  lastRefusal: string | undefined;

  /** Shapes without a plan kept at most. */
  private readonly unlearntKept: number;

  /** `shapes`: how many shapes the run's steps take, where known. */
  constructor(
    private readonly rules: ClassRules<Step, Plan>,
    shapes?: number,
  ) {
    this.unlearntKept = shapes === undefined || shapes <= SHAPES_KEPT ? SHAPES_KEPT : UNLEARNT_SHAPES_KEPT;
  }

  /**
   * Puts `step`, of shape `key`, in its class: recorded right after the step placed before, of the same shape, unless
   * `interrupt` was called between them.
   */
  place(key: string, step: Step): Placement<Plan> {
    const previous = this.previous?.key === key ? this.previous.kind : undefined;
    let headway = !this.seen.has(key);
    this.seen.add(key);
    const classes = this.classesOf(key);
    let own = classes.find((kind) => this.rules.differ(this.defining(kind), step) === undefined);
    const wrong = own?.plan === undefined ? undefined : this.rules.check(own.plan, step);
    if (own !== undefined && wrong !== undefined) {
      // The class's commands, but values its plan does not make: the plan is not to be trusted; the class begins again.
      this.lastRefusal = `a step unlike its class's plan: ${wrong}`;
      this.drop(key, own);
      own = undefined;
    }
    if (own === undefined) {
      own = { steps: [step], follows: new WeakSet() };
      classes.push(own);
      this.changes++;
      if (classes.length > CLASSES_PER_SHAPE) this.drop(key, classes[0]!);
    } else {
      // The latest matched last: the first to go.
      classes.splice(classes.indexOf(own), 1);
      classes.push(own);
      if (own.plan === undefined) {
        own.steps.push(step);
        this.changes++;
        headway = true;
        if (own.steps.length === LEARNT_FROM) this.learn(own);
      }
    }
    if (previous !== undefined && classes.includes(previous)) own.follows.add(previous);
    this.previous = { key, kind: own };
    if (previous?.plan === undefined || own.plan === undefined) return { headway };
    if (!previous.follows.has(own) || !own.follows.has(previous)) return { headway };
    if (previous === own) own.twin ??= this.rules.twin(own.plan);
    this.lastRefusal = undefined;
    return { headway: true, turns: [previous.plan, previous === own ? own.twin! : own.plan] };
  }

  /** Something came between the latest placed step and the next (a step not placed, replays). */
  interrupt(): void {
    this.previous = undefined;
  }

  /** Every step kept: each class's steps and its plan's template. */
  *steps(): Generator<Step> {
    for (const kind of [...this.shapes.values()].flat()) {
      yield* kind.steps;
      if (kind.plan !== undefined) yield this.rules.template(kind.plan);
    }
  }

  /** Drops `key`'s classes and plans. */
  forget(key: string): void {
    [...(this.shapes.get(key) ?? [])].forEach((kind) => this.drop(key, kind));
    this.shapes.delete(key);
    if (this.previous?.key === key) this.previous = undefined;
  }

  /** Drops every shape's. */
  clear(): void {
    [...this.shapes.keys()].forEach((key) => this.forget(key));
  }

  /** The step a class's steps are compared with. */
  private defining(kind: StepClass<Step, Plan>): Step {
    return kind.plan === undefined ? kind.steps[0]! : this.rules.template(kind.plan);
  }

  /**
   * `key`'s classes, made the latest used shape; the shape used longest ago dropped past `SHAPES_KEPT`, and the one
   * without a plan used longest ago past the shapes without a plan kept.
   */
  private classesOf(key: string): StepClass<Step, Plan>[] {
    const classes = this.shapes.get(key) ?? [];
    this.shapes.delete(key);
    this.shapes.set(key, classes);
    const unlearnt = [...this.shapes].filter(([, kinds]) => kinds.every((kind) => kind.plan === undefined));
    for (const [old] of unlearnt.slice(0, Math.max(0, unlearnt.length - this.unlearntKept))) this.forget(old);
    for (const old of this.shapes.keys()) {
      if (this.shapes.size <= SHAPES_KEPT) break;
      this.forget(old);
    }
    return classes;
  }

  /** Learns `kind`'s plan from its steps where they allow; otherwise its first step goes and the next is awaited. */
  private learn(kind: StepClass<Step, Plan>): void {
    const plan = this.rules.learn(kind.steps);
    if (typeof plan === 'string') {
      this.lastRefusal = plan;
      kind.steps.shift();
      return;
    }
    kind.plan = plan;
    kind.steps = [];
  }

  /** Drops `kind` from `key`'s classes, with its plan. */
  private drop(key: string, kind: StepClass<Step, Plan>): void {
    const classes = this.shapes.get(key) ?? [];
    if (classes.includes(kind)) classes.splice(classes.indexOf(kind), 1);
    [kind.plan, kind.twin].forEach((plan) => plan !== undefined && this.rules.release(plan));
    kind.plan = undefined;
    kind.twin = undefined;
    this.changes++;
  }
}
