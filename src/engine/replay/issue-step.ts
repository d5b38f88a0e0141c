/**
 * A recorded step issued to Dawn again without tfjs: its queue writes, then each dispatch (pipeline, bind groups,
 * workgroups), copy and submit as captured (command-capture.ts's `takeWithCommands`), in the same order, over the same
 * buffers — what a step costs the host when nothing is recorded anew, as a CUDA graph replays PyTorch's launches. The
 * step's values that change from one step to the next (AdamW's step count, dropout keys, MonteCLoRA's noise, a batch)
 * are in its writes: a replay writes the recorded bytes, or bytes it is given for each write. The buffers must still
 * hold what the recorded step left in them: nothing else may have run between (the pool may have handed them on).
 *
 * fineTune's replays issue their steps through it (step-replayer.ts, MCEVAL_WEBGPU_REPLAY=on); so does the kit's
 * measurement of a replay (bench/gpu/replay.ts), and test/webgpu/step-replay.test.ts holds it to the recorded step's
 * numbers.
 */
import { MAP_READ_USAGE, type LiveBuffer, type LiveCommand } from './command-capture.js';

interface ComputePass {
  setPipeline(pipeline: object): void;
  setBindGroup(index: number, group: object): void;
  dispatchWorkgroups(x: number, y: number, z: number): void;
  end(): void;
}

interface CommandEncoder {
  beginComputePass(): ComputePass;
  copyBufferToBuffer(source: object, sourceOffset: number, target: object, targetOffset: number, size: number): void;
  finish(): unknown;
}

/** tfjs-webgpu's backend, the parts a replay uses (its fields are public in JavaScript). */
interface ReplayBackend {
  readonly device: { createCommandEncoder(): CommandEncoder };
  readonly queue: {
    writeBuffer(buffer: object, offset: number, data: ArrayBuffer, dataOffset: number, size: number): void;
    submit(buffers: readonly unknown[]): void;
  };
  /** The commands tfjs is recording and has not submitted; null when there are none. */
  readonly commandEncoder: unknown;
}

/** GPUBufferUsage's MAP_READ and COPY_DST: what a read's staging buffer is made with. */
export const STAGING_USAGE = MAP_READ_USAGE | 0x0008;
/** GPUMapMode.READ. */
const MAP_READ_MODE = 0x0001;

type Copy = Extract<LiveCommand, { kind: 'copy' }>;

/**
 * The place of the last copy into a read's staging buffer: the step's read (its loss), which a replay reads back too;
 * −1 where the step read nothing.
 */
export function lastReadAt(commands: readonly LiveCommand[]): number {
  return commands.findLastIndex((command) => command.kind === 'copy' && (command.to.usage & MAP_READ_USAGE) !== 0);
}

/** The step's read (`lastReadAt`), if any. */
const lastRead = (commands: readonly LiveCommand[]) => commands[lastReadAt(commands)] as Copy | undefined;

/** Each write's bytes in order: the recorded ones, or `given` (one per write, each the recorded size). */
function writesOf(commands: readonly LiveCommand[], given: readonly Uint8Array[] | undefined): Uint8Array[] {
  const recorded = commands.flatMap((command) => (command.kind === 'write' ? [command.bytes] : []));
  if (given === undefined) return recorded;
  if (given.length !== recorded.length)
    throw new Error(`A replay was given ${given.length} writes for a step that made ${recorded.length}.`);
  return given.map((bytes, i) => {
    if (bytes.length !== recorded[i]!.length)
      throw new Error(`A replay's write ${i} has ${bytes.length} bytes where the step wrote ${recorded[i]!.length}.`);
    // The queue's uniform writes are followed by their ArrayBuffer from its start (kept-uniforms.ts).
    return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
  });
}

/**
 * Issues `commands` (one step's, captured) again on `backend` (tf.backend() on webgpu, with nothing unsubmitted), with
 * `writes` for the step's writes' bytes where given; resolves, once the GPU has run them, to the float32 values of the
 * step's last read (its loss), or undefined where it read nothing.
 */
export async function replayStep(
  backend: unknown,
  commands: readonly LiveCommand[],
  writes?: readonly Uint8Array[],
): Promise<Float32Array | undefined> {
  return issueStep(backend, commands, writes)();
}

/**
 * `replayStep`'s host work: issues the commands and returns the wait for the step's read (the kit times the two
 * apart).
 */
export function issueStep(
  backend: unknown,
  commands: readonly LiveCommand[],
  writes?: readonly Uint8Array[],
): () => Promise<Float32Array | undefined> {
  const gpu = backend as ReplayBackend;
  if (gpu.commandEncoder !== null && gpu.commandEncoder !== undefined)
    throw new Error('A replay must begin with nothing unsubmitted: tfjs is recording commands.');
  const bytes = writesOf(commands, writes);
  const read = lastRead(commands);
  let encoder: CommandEncoder | undefined;
  let pass: ComputePass | undefined;
  const endPass = () => {
    pass?.end();
    pass = undefined;
  };
  let written = 0;
  for (const command of commands) {
    switch (command.kind) {
      case 'dispatch':
        encoder ??= gpu.device.createCommandEncoder();
        pass ??= encoder.beginComputePass();
        pass.setPipeline(command.pipeline);
        for (const [index, group] of command.groups) pass.setBindGroup(index, group);
        pass.dispatchWorkgroups(...command.workgroups);
        break;
      case 'copy':
        endPass();
        encoder ??= gpu.device.createCommandEncoder();
        encoder.copyBufferToBuffer(command.from, command.fromByte, command.to, command.toByte, command.size);
        break;
      case 'write': {
        // At its place: before the commands recorded so far are submitted, as the step wrote it.
        const data = bytes[written++]!;
        gpu.queue.writeBuffer(command.buffer, command.offset, data.buffer as ArrayBuffer, 0, data.byteLength);
        break;
      }
      case 'submit':
        endPass();
        if (encoder !== undefined) gpu.queue.submit([encoder.finish()]);
        encoder = undefined;
        break;
    }
  }
  endPass();
  if (encoder !== undefined) gpu.queue.submit([encoder.finish()]);
  return async () => (read === undefined ? undefined : readBack(read.to, read.toByte, read.size));
}

/** The float32 values a staging buffer holds once the GPU has run what was submitted before. */
async function readBack(staging: LiveBuffer, offset: number, size: number): Promise<Float32Array> {
  await staging.mapAsync(MAP_READ_MODE, offset, size);
  try {
    return new Float32Array(staging.getMappedRange(offset, size).slice(0));
  } finally {
    staging.unmap();
  }
}
