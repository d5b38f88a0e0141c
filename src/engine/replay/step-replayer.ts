/**
 * Training steps replayed rather than recorded (MCEVAL_WEBGPU_REPLAY=on): on webgpu a step of one shape, once the
 * buffer pool has settled, issues the same commands over the same buffers as the step two before it (fineTune's held
 * numbers take turns in two buffers), writing anew only its values — the batch's arrays, the dropout keys, AdamW's
 * coefficients (step-values.ts). Recording such a step costs the host most of it (docs/gpu.md, "Where the host's time
 * goes"); issuing the captured commands again with the new values costs a small part, as CUDA graphs replay PyTorch's
 * launches.
 *
 * Each recorded step is captured (its commands over Dawn's objects and its values) and put in its shape's class of
 * steps that issue the same commands over the same objects (step-classes.ts). A class's plan is learnt from two of its
 * steps and must make a third's writes byte for byte (write-plan.ts). Where the two latest recorded steps are two
 * learnt classes' own, each having followed the other, the steps of that shape are replayed, the two plans taking
 * turns, until a step of another shape (or one recorded for another reason) ends the replays. A step that gives a variable another
 * buffer drops its shape's classes. A run that makes no headway over `GIVE_UP_AFTER` captured steps (no step like an
 * earlier one of its shape before a plan, no replays) stops being captured.
 */
import { captureCommands, type CommandCapture, type LiveBuffer, type LiveCommand } from './command-capture.js';
import { issueStep, lastReadAt, STAGING_USAGE } from './issue-step.js';
import { StepClasses } from './step-classes.js';
import { beginValues, takeValues } from './step-values.js';
import { checkPlan, planWrites, plannedWrites, stepsDiffer, type CapturedStep, type WritePlan } from './write-plan.js';
import { borrowPoolBuffer, holdPoolBuffers, type BorrowingPool } from '../webgpu-pool.js';
import { boundBuffers } from '../kept-bind-groups.js';
import { tf, type Tensor } from '../tf.js';

type Copy = Extract<LiveCommand, { kind: 'copy' }>;

/**
 * A learnt plan, the commands a replay of it issues, the staging buffer of its read (`turnOf`), and that read: the copy
 * of the step's numbers, whose source buffer the step after a replay holds on (`heldNumbers`).
 */
interface Turn {
  readonly plan: WritePlan;
  readonly commands: readonly LiveCommand[];
  readonly staging: LiveBuffer;
  readonly read: Copy;
}

/** Captured steps without headway after which a run is no longer captured. */
const GIVE_UP_AFTER = 24;

/** Every variable's data, by identity (what tfjs's JavaScript side says each variable holds). */
const variableData = (): object[] => Object.values(tf.engine().registeredVariables).map((variable) => variable.dataId);

/** Each captured step's buffers (`stepBuffers`), made once: the held set is made again as the classes change. */
const buffersOfStep = new WeakMap<CapturedStep, readonly object[]>();

/**
 * The buffers `step`'s commands use: copied, written, or bound by a dispatch's bind group (a bind group not kept binds
 * buffers unknown here; its steps make new ones each time, so are no class's but their own).
 */
function stepBuffers(step: CapturedStep): readonly object[] {
  let buffers = buffersOfStep.get(step);
  if (buffers !== undefined) return buffers;
  const found = new Set<object>();
  for (const command of step.commands) {
    if (command.kind === 'copy') [command.from, command.to].forEach((buffer) => found.add(buffer));
    else if (command.kind === 'write') found.add(command.buffer);
    else if (command.kind === 'dispatch')
      command.groups.forEach(([, group]) => boundBuffers(group)?.forEach((buffer) => found.add(buffer)));
  }
  buffers = [...found];
  buffersOfStep.set(step, buffers);
  return buffers;
}

export class StepReplayer {
  /** The capture's wrappers of Dawn's calls, while steps are captured (none while replaying: they cost each call). */
  private capture: CommandCapture | undefined;
  private readonly classes: StepClasses<CapturedStep, Turn>;
  /** The shape replayed and its two turns, the next step's first, while its steps are replayed. */
  private replaying: { readonly key: string; turns: readonly [Turn, Turn] } | undefined;
  /**
   * From the first captured step until the run stops being captured: the pool destroys none of the buffers the classes'
   * steps and plans use (`heldBuffers`). A plan's commands use the buffers its steps used, free or not, and the pool
   * may trim one after any read — also between a step captured and its plan. Other buffers go as ever.
   */
  private releasePool: (() => void) | undefined;
  /** The buffers of the classes' steps and plans, and the classes' change count they were made at. */
  private held: { readonly buffers: Set<object>; readonly at: number } | undefined;
  private withoutHeadway = 0;
  private stopped = false;
  /** Steps replayed so far. */
  replayed = 0;

  /**
   * `shapes`: how many shapes the run's steps take, where known (fineTune counts them from its batches: train/
   * step-shapes.ts); step-classes.ts keeps fewer past 16.
   */
  constructor(
    private readonly backend: unknown,
    shapes?: number,
  ) {
    this.classes = new StepClasses<CapturedStep, Turn>(
      {
        differ: stepsDiffer,
        learn: ([first, second, third]) => {
          const plan = planWrites(first!, second!);
          const refusal = typeof plan === 'string' ? plan : checkPlan(plan, third!);
          if (refusal !== undefined) return refusal;
          return this.turnOf(plan as WritePlan) ?? 'the captured steps read nothing back';
        },
        check: (turn, step) => checkPlan(turn.plan, step),
        template: (turn) => turn.plan.template,
        twin: (turn) => this.turnOf(turn.plan)!,
        release: (turn) => turn.staging.destroy(),
      },
      shapes,
    );
  }

  /** Why the latest captures gave no plan (a test's and a reader's clue). */
  get lastRefusal(): string | undefined {
    return this.classes.lastRefusal;
  }

  /** Whether the next step, of shape `key`, is replayed. */
  replays(key: string): boolean {
    return this.replaying?.key === key;
  }

  /**
   * Runs `record` (a step of shape `key` whose inputs are `inputs`, recorded by tfjs, and its read begun), captured
   * where the run is still captured and the step is one a replay could stand for (`replayable`: fineTune's steps that
   * hold on the one before); arms the replays where the captures allow.
   */
  record<T>(key: string, inputs: readonly object[], replayable: boolean, record: () => T): T {
    // A recorded step ends the replays: the turns' buffers are no longer the steps' before it.
    this.replaying = undefined;
    if (this.stopped || !replayable) {
      this.classes.interrupt();
      return record();
    }
    this.releasePool ??= holdPoolBuffers((buffer) => this.heldBuffers().has(buffer));
    const capture = (this.capture ??= captureCommands(this.backend, { events: false }));
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
    }
    const after = variableData();
    let headway = false;
    if (after.length !== before.length || after.some((data, i) => data !== before[i])) {
      // A variable given another buffer by the step (MonteCLoRA's reference mode assigns each sample as the new A;
      // AdamW assigns a parameter it could not rewrite in place): replays, which make no tensors, would leave tfjs
      // naming the buffer of the step they stand for, where the latest values may be in the other turn's.
      this.classes.lastRefusal = 'a variable moved to another buffer in the step';
      this.classes.forget(key);
    } else {
      const placed = this.classes.place(key, step);
      headway = placed.headway;
      if (placed.turns !== undefined) {
        this.replaying = { key, turns: placed.turns };
        this.stopCapture();
      }
    }
    if (headway) this.withoutHeadway = 0;
    else if (++this.withoutHeadway >= GIVE_UP_AFTER) this.stop();
    return result;
  }

  /**
   * Issues the next step of the replayed shape, whose inputs are `inputs`: the values of its read, and a tensor over
   * the numbers it wrote (`heldNumbers`) for the step after it to hold on, where one can be made.
   */
  replay(inputs: readonly object[]): { values: Promise<Float32Array>; numbers?: Tensor } {
    const [turn, other] = this.replaying!.turns;
    this.replaying!.turns = [other, turn];
    // Each drawn value drawn again in the order the step drew them; each upload made from these inputs.
    const values = turn.plan.template.values.map((value) => value.again(inputs));
    const readBack = issueStep(this.backend, turn.commands, plannedWrites(turn.plan, values));
    this.replayed += 1;
    // The replays stand between the latest recorded step and the next.
    this.classes.interrupt();
    const held = this.heldNumbers(turn);
    return {
      values: readBack().then((numbers) => {
        if (numbers === undefined) throw new Error('A replayed step read nothing back.');
        return numbers;
      }),
      ...(held === undefined ? {} : { numbers: held }),
    };
  }

  /**
   * A tensor over the buffer `turn`'s replay writes its numbers to (the one its read copies from), where that buffer is
   * free in tfjs's pool: taken from it until the tensor is disposed. The step after the replay holds on it as on a
   * recorded step's numbers — the same buffer its recorded step's numbers were in, so a recorded step of another shape
   * after the replays is captured as one held on that step, and may be its class's own.
   */
  private heldNumbers(turn: Turn): Tensor | undefined {
    const { read } = turn;
    if (read.fromByte !== 0) return undefined;
    const pool = (this.backend as { bufferManager: BorrowingPool }).bufferManager;
    const giveBack = borrowPoolBuffer(pool, read.from as Parameters<typeof borrowPoolBuffer>[1]);
    if (giveBack === undefined) return undefined;
    const numbers = tf.tensor(
      { buffer: read.from as unknown as GPUBuffer, zeroCopy: true },
      [read.size / 4],
      'float32',
    );
    // tfjs leaves a zero-copy tensor's buffer alone when it is disposed: the pool gets it back here.
    const dispose = numbers.dispose.bind(numbers);
    numbers.dispose = () => {
      if (numbers.isDisposed) return;
      dispose();
      giveBack();
    };
    return numbers;
  }

  /** Stops capturing (the run ends). */
  dispose(): void {
    if (!this.stopped) this.stop();
  }

  /** Every buffer a class's steps' or plan's commands use (`stepBuffers`), made again after the classes change. */
  private heldBuffers(): Set<object> {
    if (this.held?.at === this.classes.changes) return this.held.buffers;
    const buffers = new Set<object>();
    for (const step of this.classes.steps()) stepBuffers(step).forEach((buffer) => buffers.add(buffer));
    this.held = { buffers, at: this.classes.changes };
    return buffers;
  }

  /**
   * The plan with its read copied into a staging buffer of its own. The captured steps' reads took whatever staging
   * buffer tfjs's pool had free then: two turns' may be one where a step's read had ended before the next began, while
   * replays are read one behind the other (a buffer may not take a copy while it is mapped). Undefined where the step
   * read nothing.
   */
  private turnOf(plan: WritePlan): Turn | undefined {
    const commands = [...plan.template.commands];
    const at = lastReadAt(commands);
    if (at < 0) return undefined;
    const recorded = commands[at] as Copy;
    const device = (this.backend as { device: { createBuffer(descriptor: object): LiveBuffer } }).device;
    const staging = device.createBuffer({ size: recorded.toByte + recorded.size, usage: STAGING_USAGE });
    const read = { ...recorded, to: staging };
    commands[at] = read;
    return { plan, commands, staging, read };
  }

  private stopCapture(): void {
    this.capture?.stop();
    this.capture = undefined;
  }

  private stop(): void {
    this.stopped = true;
    this.replaying = undefined;
    this.classes.clear();
    this.classes.interrupt();
    this.stopCapture();
    this.releasePool?.();
    this.releasePool = undefined;
  }
}
