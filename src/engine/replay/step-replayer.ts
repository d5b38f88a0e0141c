/**
 * Training steps replayed rather than recorded (MCEVAL_WEBGPU_REPLAY=on): on webgpu a step of one shape, once the
 * buffer pool has settled, issues the same commands over the same buffers as the step two before it (fineTune's held
 * numbers take turns in two buffers), writing anew only its values — the batch's arrays, the dropout keys, AdamW's
 * coefficients (step-values.ts). Recording such a step costs the host most of it (docs/gpu.md, "Where the host's time
 * goes"); issuing the captured commands again with the new values costs a small part, as CUDA graphs replay PyTorch's
 * launches.
 *
 * Each recorded step is captured (its commands over Dawn's objects and its values). Once six consecutive steps of one
 * shape are, each turn's plan is learnt from its first two (write-plan.ts) and must make its third's writes byte for
 * byte; then the steps of that shape are replayed, the turns in order, until a step of another shape (or one recorded
 * for another reason) ends the replays, and the captures begin again. A step that gives a variable another buffer
 * is not captured. A run whose steps never settle stops being captured after `GIVE_UP_AFTER` steps without a plan.
 *
 * A shape's plans are kept when its replays end (the latest `KEPT` shapes'): batches of several lengths (a preset's
 * `padToMultipleOf` and `groupByLength`) come back to a shape. There its steps are recorded until two consecutive ones
 * are each turn's plan's own — the same commands over the same buffers, their writes made by the plan from their
 * values, as the checked third steps were — and the replays resume from the next, without six captures again.
 * Two are needed: each turn's buffers are proven free for it only by a step that used them.
 */
import { captureCommands, type CommandCapture, type LiveBuffer, type LiveCommand } from './command-capture.js';
import { issueStep, lastReadAt, STAGING_USAGE } from './issue-step.js';
import { beginValues, takeValues } from './step-values.js';
import { checkPlan, planWrites, plannedWrites, type CapturedStep, type WritePlan } from './write-plan.js';
import { holdPoolBuffers } from '../webgpu-pool.js';
import { boundBuffers } from '../kept-bind-groups.js';
import { tf } from '../tf.js';

/** One turn's plan, the commands a replay of it issues, and the staging buffer of its read (`ownRead`). */
interface Turn {
  readonly plan: WritePlan;
  readonly commands: readonly LiveCommand[];
  readonly staging: LiveBuffer;
}

/** Consecutive captured steps of one shape a pair of plans is learnt and checked on. */
const CAPTURED = 6;
/** Captured steps without a plan after which a run is no longer captured. */
const GIVE_UP_AFTER = 24;
/** Shapes whose plans are kept for their steps' return. */
const KEPT = 8;

/** Every variable's data, by identity (what tfjs's JavaScript side says each variable holds). */
const variableData = (): object[] => Object.values(tf.engine().registeredVariables).map((variable) => variable.dataId);

export class StepReplayer {
  /** The capture's wrappers of Dawn's calls, while steps are captured (none while replaying: they cost each call). */
  private capture: CommandCapture | undefined;
  /** Consecutive captured steps of `key`, the latest last (at most CAPTURED). */
  private captured: CapturedStep[] = [];
  private key: string | undefined;
  /** The two turns' plans, the next step's first, once learnt and checked, and the commands each replay issues. */
  private plans: Turn[] | undefined;
  /** Each shape's learnt turns, by key, the latest used last. */
  private readonly kept = new Map<string, readonly Turn[]>();
  /** The turn of a kept plan whose own the latest captured step was (of `key`), if it was one's. */
  private matched: number | undefined;
  /**
   * From the first captured step until the run stops being captured: the pool destroys none of the buffers the captured
   * steps and the kept plans use (`heldBuffers`). A plan's commands use the buffers its steps used, free or not, and
   * the pool may trim one after any read — also between a step captured and its plan. Other buffers go as ever.
   */
  private releasePool: (() => void) | undefined;
  /** The buffers of the captured steps and the kept plans, made when the pool asks after they changed. */
  private held: Set<object> | undefined;
  private withoutPlan = 0;
  private stopped = false;
  /** Why the latest captures gave no plan (a test's and a reader's clue). */
  lastRefusal: string | undefined;
  /** Steps replayed so far. */
  replayed = 0;

  constructor(private readonly backend: unknown) {}

  /** Whether the next step, of shape `key`, is replayed. */
  replays(key: string): boolean {
    return this.plans !== undefined && this.key === key;
  }

  /**
   * Runs `record` (a step of shape `key` whose inputs are `inputs`, recorded by tfjs, and its read begun), captured
   * where the run is still captured and the step is one a replay could stand for (`replayable`: fineTune's steps that
   * hold on the one before); learns the plans when the captures allow.
   */
  record<T>(key: string, inputs: readonly object[], replayable: boolean, record: () => T): T {
    // A recorded step ends the replays: the turns' buffers are no longer the steps' before it.
    this.plans = undefined;
    if (!replayable) {
      this.captured = [];
      this.matched = undefined;
    }
    if (this.stopped || !replayable) return record();
    this.releasePool ??= holdPoolBuffers((buffer) => this.heldBuffers().has(buffer));
    const capture = (this.capture ??= captureCommands(this.backend, { events: false }));
    if (key !== this.key) {
      this.captured = [];
      this.matched = undefined;
      this.key = key;
    }
    const before = variableData();
    beginValues(inputs);
    capture.begin();
    let result: T;
    let step: CapturedStep;
    try {
      result = record();
    } finally {
      const { commands } = capture.takeWithCommands();
      step = { commands, values: takeValues() };
      this.captured = [...this.captured, step].slice(-CAPTURED);
      this.held = undefined;
    }
    const after = variableData();
    if (after.length !== before.length || after.some((data, i) => data !== before[i])) {
      // A variable given another buffer by the step (MonteCLoRA's reference mode assigns each sample as the new A;
      // AdamW assigns a parameter it could not rewrite in place): replays, which make no tensors, would leave tfjs
      // naming the buffer of the step they stand for, where the latest values may be in the other turn's.
      this.lastRefusal = 'a variable moved to another buffer in the step';
      this.captured = [];
      this.matched = undefined;
      this.forget(key);
    }
    if (this.resume(key, step) || this.learn()) this.withoutPlan = 0;
    else if (++this.withoutPlan >= GIVE_UP_AFTER) this.stop();
    return result;
  }

  /** Issues the next step of the replayed shape, whose inputs are `inputs`; resolves to the values of its read. */
  replay(inputs: readonly object[]): Promise<Float32Array> {
    const [turn, other] = this.plans!;
    this.plans = [other!, turn!];
    // Each drawn value drawn again in the order the step drew them; each upload made from these inputs.
    const values = turn!.plan.template.values.map((value) => value.again(inputs));
    const read = issueStep(this.backend, turn!.commands, plannedWrites(turn!.plan, values));
    this.replayed += 1;
    return read().then((numbers) => {
      if (numbers === undefined) throw new Error('A replayed step read nothing back.');
      return numbers;
    });
  }

  /** Stops capturing (the run ends). */
  dispose(): void {
    if (!this.stopped) this.stop();
  }

  /**
   * Whether the replays of `key`'s kept plans resume after `step`: it is one turn's own and the step before it was the
   * other's (the next step is then the first's turn again).
   */
  private resume(key: string, step: CapturedStep): boolean {
    const turns = this.kept.get(key);
    if (turns === undefined) return false;
    const before = this.matched;
    const own = turns.map((candidate) => checkPlan(candidate.plan, step) === undefined);
    // The other turn's where the step is both's (two turns over the same buffers).
    const turn = before !== undefined && own[1 - before] === true ? 1 - before : own.indexOf(true);
    this.matched = turn < 0 ? undefined : turn;
    if (turn < 0 || before === undefined || before === turn) return false;
    this.arm(key, [turns[before]!, turns[turn]!]);
    return true;
  }

  /** Drops `key`'s kept plans (none of whose replays is in flight: fineTune reads a replay before it records). */
  private forget(key: string): void {
    this.kept.get(key)?.forEach((turn) => turn.staging.destroy());
    this.kept.delete(key);
    this.held = undefined;
  }

  /**
   * Every buffer a captured step's or a kept plan's commands use: copied, written, or bound by a dispatch's bind group
   * (a bind group not kept binds buffers unknown here; its steps make new ones each time, so give no plan).
   */
  private heldBuffers(): Set<object> {
    if (this.held !== undefined) return this.held;
    const held = new Set<object>();
    const steps = [...this.captured, ...[...this.kept.values()].flat().map((turn) => turn.plan.template)];
    for (const { commands } of steps) {
      for (const command of commands) {
        if (command.kind === 'copy') [command.from, command.to].forEach((buffer) => held.add(buffer));
        else if (command.kind === 'write') held.add(command.buffer);
        else if (command.kind === 'dispatch')
          command.groups.forEach(([, group]) => boundBuffers(group)?.forEach((buffer) => held.add(buffer)));
      }
    }
    this.held = held;
    return held;
  }

  /** Replays `key`'s steps from the next, by `turns` (the next step's first); the captures stop. */
  private arm(key: string, turns: readonly Turn[]): void {
    this.plans = [...turns];
    // The latest used last: the first to go when more shapes are kept than KEPT.
    this.kept.delete(key);
    this.kept.set(key, turns);
    for (const old of this.kept.keys()) {
      if (this.kept.size <= KEPT) break;
      this.forget(old);
    }
    this.captured = [];
    this.held = undefined;
    this.matched = undefined;
    this.lastRefusal = undefined;
    this.stopCapture();
  }

  /** Learns both turns' plans from the captured steps where they allow; whether it did. */
  private learn(): boolean {
    if (this.captured.length < CAPTURED) return false;
    const plans: Turn[] = [];
    // Each turn's steps: the first, third and fifth captured, then the second, fourth and sixth.
    for (const turn of [0, 1]) {
      const [first, second, third] = [0, 2, 4].map((at) => this.captured[turn + at]!) as [
        CapturedStep,
        CapturedStep,
        CapturedStep,
      ];
      const plan = planWrites(first, second);
      const refusal = typeof plan === 'string' ? plan : checkPlan(plan, third);
      const read = refusal === undefined ? this.ownRead(plan as WritePlan) : undefined;
      if (read === undefined) {
        plans.forEach((learnt) => learnt.staging.destroy());
        this.lastRefusal = refusal ?? 'the captured steps read nothing back';
        return false;
      }
      plans.push({ plan: plan as WritePlan, ...read });
    }
    // A shape's plans learnt anew replace those kept for it.
    this.forget(this.key!);
    this.arm(this.key!, plans);
    return true;
  }

  /**
   * The plan's commands with its read copied into a staging buffer of the turn's own. The captured steps' reads took
   * whatever staging buffer tfjs's pool had free then: the two turns' may be one where a step's read had ended before
   * the next began, while replays are read one behind the other (a buffer may not take a copy while it is mapped).
   * Undefined where the step read nothing.
   */
  private ownRead(plan: WritePlan): Pick<Turn, 'commands' | 'staging'> | undefined {
    const commands = [...plan.template.commands];
    const at = lastReadAt(commands);
    if (at < 0) return undefined;
    const read = commands[at] as Extract<LiveCommand, { kind: 'copy' }>;
    const device = (this.backend as { device: { createBuffer(descriptor: object): LiveBuffer } }).device;
    const staging = device.createBuffer({ size: read.toByte + read.size, usage: STAGING_USAGE });
    commands[at] = { ...read, to: staging };
    return { commands, staging };
  }

  private stopCapture(): void {
    this.capture?.stop();
    this.capture = undefined;
  }

  private stop(): void {
    this.stopped = true;
    this.plans = undefined;
    [...this.kept.keys()].forEach((key) => this.forget(key));
    this.captured = [];
    this.stopCapture();
    this.releasePool?.();
    this.releasePool = undefined;
  }
}
