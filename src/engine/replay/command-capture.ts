/**
 * What the webgpu backend hands Dawn while a step is recorded, command by command: each compute dispatch (its pipeline,
 * bind group and workgroup counts), each buffer-to-buffer copy, each queue write (its buffer, offset and bytes — as
 * asked of the queue: kept-uniforms.ts may then leave out a repeated uniform write), each submit, and the buffers and
 * bind groups Dawn was asked to make. Dawn's objects are named by the order they were first seen, so that two steps'
 * streams compare by identity.
 *
 * Replaying a recorded step instead of recording it again (docs/gpu.md, "Where the host's time goes") needs two steps
 * of one shape to issue the same commands over the same objects, and the values that change from one step to the next
 * to be known: `compareStreams` says whether they do, and which writes carry new bytes, by the kernel they precede.
 */
import { wrapMethod } from './wrap-method.js';
import { takeUploadTag } from './step-values.js';

/** The parts of tfjs-webgpu's backend and Dawn's device that a capture wraps. */
interface CapturedBackend {
  readonly device: {
    createCommandEncoder(...args: unknown[]): CommandEncoder;
    createBuffer(...args: unknown[]): unknown;
    createBindGroup(...args: unknown[]): unknown;
  };
  readonly queue: {
    writeBuffer(
      buffer: { readonly usage: number },
      offset: number,
      data: ArrayBuffer | ArrayBufferView,
      ...rest: number[]
    ): void;
    submit(buffers: readonly unknown[]): void;
  };
  recordAndSubmit(program: { readonly pipeline?: unknown; readonly shaderKey: string }, ...rest: unknown[]): unknown;
}

interface CommandEncoder {
  beginComputePass(...args: unknown[]): ComputePass;
  copyBufferToBuffer(
    source: object,
    sourceOffset: number,
    target: { readonly usage: number },
    targetOffset: number,
    size: number,
  ): void;
}

interface ComputePass {
  setPipeline(pipeline: object): void;
  setBindGroup(index: number, group: object): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
}

/** GPUBufferUsage.UNIFORM. */
const UNIFORM = 0x0040;
/** GPUBufferUsage.MAP_READ: a read's staging buffer. */
export const MAP_READ_USAGE = 0x0001;

export type StreamEvent =
  | { readonly kind: 'dispatch'; readonly pipeline: number; readonly group: number; readonly workgroups: string }
  | {
      readonly kind: 'copy';
      readonly from: number;
      readonly to: number;
      readonly span: string;
      /** Whether `to` is a read's staging buffer. */
      readonly read: boolean;
    }
  | {
      readonly kind: 'write';
      readonly buffer: number;
      readonly offset: number;
      readonly uniform: boolean;
      /** The bytes, hex. */
      readonly bytes: string;
    }
  | { readonly kind: 'submit'; readonly buffers: number }
  | { readonly kind: 'create'; readonly object: 'buffer' | 'bind group' };

/**
 * A captured command with Dawn's own objects and a copy of each write's bytes: what issue-step.ts issues again. Buffer
 * and bind group creation is left out (a replay makes nothing).
 */
export type LiveCommand =
  | {
      readonly kind: 'dispatch';
      readonly pipeline: object;
      readonly groups: readonly (readonly [number, object])[];
      readonly workgroups: readonly [number, number, number];
    }
  | {
      readonly kind: 'copy';
      readonly from: object;
      readonly fromByte: number;
      readonly to: LiveBuffer;
      readonly toByte: number;
      readonly size: number;
    }
  | {
      readonly kind: 'write';
      readonly buffer: LiveBuffer;
      readonly offset: number;
      readonly bytes: Uint8Array;
      /** Where the write uploads a value of the step's inputs: its place among the step's values (step-values.ts). */
      readonly value?: number;
    }
  | { readonly kind: 'submit' };

/** A Dawn buffer as a replay uses it: written, read back where it is a read's staging buffer. */
export interface LiveBuffer {
  readonly usage: number;
  readonly size: number;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

export interface CommandCapture {
  /** Starts a new stream: what the backend hands Dawn from now until `take`. */
  begin(): void;
  /** The stream since `begin`. */
  take(): StreamEvent[];
  /** The stream since `begin`, with its commands as Dawn's objects (the same commands in the same order). */
  takeWithCommands(): { readonly events: StreamEvent[]; readonly commands: LiveCommand[] };
  /** The shader key of pipeline `id` (tfjs's program key), where the backend dispatched it. */
  shaderKey(id: number): string | undefined;
  /** Restores every wrapped method. */
  stop(): void;
}

/** A write's bytes as the queue takes them: its offset and size count bytes, or a typed array's elements. */
function written(data: ArrayBuffer | ArrayBufferView, offset = 0, size?: number): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data, offset, size ?? data.byteLength - offset);
  const element = 'BYTES_PER_ELEMENT' in data ? (data.BYTES_PER_ELEMENT as number) : 1;
  const start = offset * element;
  return new Uint8Array(
    data.buffer,
    data.byteOffset + start,
    size === undefined ? data.byteLength - start : size * element,
  );
}

/**
 * Starts capturing what `backend` (tf.backend() on webgpu) hands Dawn; events are kept only between begin and take.
 * With `events: false` only the commands are kept (a trainer's replay needs no names, nor each write's bytes in hex).
 */
export function captureCommands(backend: unknown, options: { readonly events?: boolean } = {}): CommandCapture {
  const keepEvents = options.events ?? true;
  const gpu = backend as CapturedBackend;
  const ids = new WeakMap<object, number>();
  let named = 0;
  const name = (object: object) => {
    let id = ids.get(object);
    if (id === undefined) ids.set(object, (id = ++named));
    return id;
  };
  const keys = new Map<number, string>();
  let events: StreamEvent[] | undefined;
  let commands: LiveCommand[] = [];
  const push = (event: StreamEvent | (() => StreamEvent), live?: LiveCommand) => {
    if (events === undefined) return;
    if (keepEvents) events.push(typeof event === 'function' ? event() : event);
    if (live !== undefined) commands.push(live);
  };
  /**
   * `object`, noted as made where it is new to the capture. Named outside a step's window too: mceval's device hands
   * back a bind group it made before (kept-bind-groups.ts), which is not new when a later step gets it again.
   */
  const made = <T>(kind: 'buffer' | 'bind group', object: T): T => {
    if (!ids.has(object as object)) push({ kind: 'create', object: kind });
    name(object as object);
    return object;
  };
  const passes = (pass: ComputePass): ComputePass => {
    let pipeline: object | undefined;
    let group: object | undefined;
    // Every group set in the pass so far, by index: a dispatch uses what is set when it is made.
    const groups = new Map<number, object>();
    wrapMethod(pass, 'setPipeline', (set) => (chosen) => {
      pipeline = chosen;
      set(chosen);
    });
    wrapMethod(pass, 'setBindGroup', (set) => (index, chosen) => {
      group = chosen;
      groups.set(index, chosen);
      set(index, chosen);
    });
    wrapMethod(pass, 'dispatchWorkgroups', (dispatch) => (x, y = 1, z = 1) => {
      if (events !== undefined)
        push(
          { kind: 'dispatch', pipeline: name(pipeline!), group: name(group!), workgroups: `${x}×${y}×${z}` },
          { kind: 'dispatch', pipeline: pipeline!, groups: [...groups], workgroups: [x, y, z] },
        );
      dispatch(x, y, z);
    });
    return pass;
  };
  const undo = [
    wrapMethod(gpu.device, 'createCommandEncoder', (create) => (...args) => {
      const encoder = create(...args);
      wrapMethod(
        encoder,
        'beginComputePass',
        (begin) =>
          (...passArgs) =>
            passes(begin(...passArgs)),
      );
      wrapMethod(encoder, 'copyBufferToBuffer', (copy) => (from, fromByte, to, toByte, size) => {
        if (events !== undefined)
          push(
            {
              kind: 'copy',
              from: name(from),
              to: name(to),
              span: `${fromByte}→${toByte}:${size}`,
              read: (to.usage & MAP_READ_USAGE) !== 0,
            },
            { kind: 'copy', from, fromByte, to: to as LiveBuffer, toByte, size },
          );
        copy(from, fromByte, to, toByte, size);
      });
      return encoder;
    }),
    // mceval's device gives a bind group it made before for the same buffers (kept-bind-groups.ts): only one not
    // seen before is new.
    ...(
      [
        ['createBuffer', 'buffer'],
        ['createBindGroup', 'bind group'],
      ] as const
    ).map(([method, kind]) =>
      wrapMethod(
        gpu.device,
        method,
        (create) =>
          (...args) =>
            made(kind, create(...args)),
      ),
    ),
    wrapMethod(gpu.queue, 'writeBuffer', (write) => (buffer, offset, data, ...rest) => {
      if (events === undefined) return write(buffer, offset, data, ...rest);
      const [dataOffset, size] = rest;
      const bytes = written(data, dataOffset, size);
      const value = takeUploadTag();
      push(
        () => ({
          kind: 'write',
          buffer: name(buffer),
          offset,
          uniform: (buffer.usage & UNIFORM) !== 0,
          bytes: Buffer.from(bytes).toString('hex'),
        }),
        {
          kind: 'write',
          buffer: buffer as LiveBuffer,
          offset,
          bytes: bytes.slice(),
          ...(value === undefined ? {} : { value }),
        },
      );
      write(buffer, offset, data, ...rest);
    }),
    wrapMethod(gpu.queue, 'submit', (submit) => (buffers) => {
      push({ kind: 'submit', buffers: buffers.length }, { kind: 'submit' });
      submit(buffers);
    }),
    wrapMethod(gpu, 'recordAndSubmit', (record) => (program, ...rest) => {
      const result = record(program, ...rest);
      if (program.pipeline !== undefined && typeof program.pipeline === 'object')
        keys.set(name(program.pipeline as object), program.shaderKey);
      return result;
    }),
  ];
  const takeWithCommands = () => {
    const taken = { events: events ?? [], commands };
    events = undefined;
    commands = [];
    return taken;
  };
  return {
    begin: () => {
      events = [];
      commands = [];
    },
    take: () => takeWithCommands().events,
    takeWithCommands,
    shaderKey: (id) => keys.get(id),
    stop: () => undo.reverse().forEach((restore) => restore()),
  };
}

/**
 * `events` with Dawn's objects named anew by their first place in this stream: two runs' steps (each with its own
 * buffers) compare by what each step does with its objects.
 */
export function namedInStream(events: readonly StreamEvent[]): StreamEvent[] {
  const names = new Map<string, number>();
  const rename = (space: string, id: number) => {
    const key = `${space} ${id}`;
    if (!names.has(key)) names.set(key, names.size + 1);
    return names.get(key)!;
  };
  return events.map((event) => {
    switch (event.kind) {
      case 'dispatch':
        return { ...event, pipeline: rename('pipeline', event.pipeline), group: rename('group', event.group) };
      case 'copy':
        return { ...event, from: rename('buffer', event.from), to: rename('buffer', event.to) };
      case 'write':
        return { ...event, buffer: rename('buffer', event.buffer) };
      default:
        return event;
    }
  });
}

/** A write whose bytes differ between two streams that are otherwise the same. */
export interface VaryingWrite {
  /** Its place in the stream. */
  readonly at: number;
  readonly uniform: boolean;
  readonly bytes: number;
  /** The pipeline of the dispatch after it: the kernel that reads it (undefined where none follows). */
  readonly before?: number;
}

export interface StreamComparison {
  /**
   * The same commands over the same objects, in the same order, writes' bytes aside and the staging buffer of each
   * stream's last read (a step's read) aside: which one tfjs's pool had free for it depends on whether the read before
   * had ended, and a replay reads into one of its own (write-plan.ts's `stepsDiffer`, step-replayer.ts's `turnOf`).
   */
  readonly sameCommands: boolean;
  /** The first place where they differ, and what each stream has there. */
  readonly firstDifference?: { readonly at: number; readonly first?: StreamEvent; readonly second?: StreamEvent };
  /** Where the commands are the same: the writes whose bytes differ. */
  readonly varyingWrites: readonly VaryingWrite[];
}

/** The event with its bytes, or where `isRead` its staging buffer, left out: what must be the same for a replay. */
function command(event: StreamEvent, isRead: boolean): string {
  if (event.kind === 'write') return JSON.stringify({ ...event, bytes: event.bytes.length });
  if (event.kind === 'copy' && isRead) return JSON.stringify({ ...event, to: 'staging' });
  return JSON.stringify(event);
}

/** The place of a stream's last read (its last copy into a staging buffer); −1 where it read nothing. */
const lastReadOf = (events: readonly StreamEvent[]) =>
  events.findLastIndex((event) => event.kind === 'copy' && event.read);

/** Compares two steps' streams (captureCommands'). */
export function compareStreams(first: readonly StreamEvent[], second: readonly StreamEvent[]): StreamComparison {
  const length = Math.max(first.length, second.length);
  const reads = [lastReadOf(first), lastReadOf(second)];
  for (let at = 0; at < length; at++) {
    const [a, b] = [first[at], second[at]];
    if (a === undefined || b === undefined || command(a, at === reads[0]) !== command(b, at === reads[1]))
      return { sameCommands: false, firstDifference: { at, first: a, second: b }, varyingWrites: [] };
  }
  const varyingWrites: VaryingWrite[] = [];
  first.forEach((event, at) => {
    const other = second[at]!;
    if (event.kind !== 'write' || other.kind !== 'write' || event.bytes === other.bytes) return;
    const next = first.slice(at).find((later) => later.kind === 'dispatch');
    varyingWrites.push({
      at,
      uniform: event.uniform,
      bytes: event.bytes.length / 2,
      ...(next?.kind === 'dispatch' ? { before: next.pipeline } : {}),
    });
  });
  return { sameCommands: true, varyingWrites };
}

/** A kernel's name: its shader key up to the first `_` (the key's settings and shapes follow). */
const kernelName = (key: string | undefined) => key?.split('_')[0] ?? '(none)';

/** Two consecutive steps' streams in numbers: what a replay of the second would issue, and what it must write anew. */
export function streamSummary(capture: CommandCapture, first: readonly StreamEvent[], second: readonly StreamEvent[]) {
  const count = (kind: StreamEvent['kind']) => second.filter((event) => event.kind === kind).length;
  const comparison = compareStreams(first, second);
  // Varying writes by the kernel that reads them: how many a step, and their bytes.
  const varying: Record<string, { writes: number; bytes: number; uniform: boolean }> = {};
  for (const write of comparison.varyingWrites) {
    const kernel = kernelName(write.before === undefined ? undefined : capture.shaderKey(write.before));
    const entry = (varying[kernel] ??= { writes: 0, bytes: 0, uniform: write.uniform });
    entry.writes += 1;
    entry.bytes += write.bytes;
  }
  return {
    dispatches: count('dispatch'),
    copies: count('copy'),
    writes: count('write'),
    submits: count('submit'),
    created: count('create'),
    sameCommands: comparison.sameCommands,
    ...(comparison.firstDifference === undefined ? {} : { firstDifference: comparison.firstDifference }),
    varyingWrites: comparison.varyingWrites.length,
    varyingByKernel: varying,
  };
}
