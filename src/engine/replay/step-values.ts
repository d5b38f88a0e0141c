/**
 * The values a training step hands the GPU that change from one step to the next, and how a later step's are made
 * without recording that step: what a replay of a recorded step (issue-step.ts) must write anew. There are two kinds.
 *
 * - Drawn values (`drawnValue`): a dropout key from the seeded generator, AdamW's coefficients from its step count and
 *   learning rate. Each is made by a function of state its owner advances (the generator, the optimizer): called again
 *   for a later step, in the order the step called them, it makes that step's value. Their bytes reach the GPU inside
 *   kernels' uniforms, where a replay finds them by comparing two steps (write-plan.ts).
 * - Values of the step's inputs (the padded batch, its labels and targets): the host arrays a tensor of the step is
 *   made from. `derived` notes how an array was made from the inputs (a batch's positions, the rows a loss reads); an
 *   upload of an input or of such an array (webgpu-upload.ts) is noted with the write that carries it, and a later
 *   step's bytes are made by the same functions from that step's inputs.
 *
 * Nothing is noted but while a step is captured (`beginValues` … `takeValues`): outside, each function only makes its
 * value.
 */

/** A value the captured step made: its bytes, and how a later step's are made. */
export interface MadeValue {
  readonly kind: 'drawn' | 'upload';
  readonly bytes: Uint8Array;
  /** The value of a later step whose inputs are `inputs` (in the captured step's order); a drawn value draws again. */
  readonly again: (inputs: readonly object[]) => Uint8Array;
}

/** How an array is made from the step's inputs. */
type Maker = (inputs: readonly object[]) => unknown;

interface Noting {
  readonly values: MadeValue[];
  /** The arrays made from the inputs (and the inputs themselves): how each is made again. */
  readonly makers: WeakMap<object, Maker>;
  /** The upload value whose write is the next one the queue is asked for. */
  upload?: number;
}

let noting: Noting | undefined;

/** Starts noting the values of a step whose inputs are `inputs` (objects, each told apart by identity). */
export function beginValues(inputs: readonly object[]): void {
  const makers = new WeakMap<object, Maker>();
  inputs.forEach((input, i) => makers.set(input, (later) => later[i]));
  noting = { values: [], makers };
}

/** The values noted since `beginValues`; noting stops. */
export function takeValues(): MadeValue[] {
  const values = noting?.values ?? [];
  noting = undefined;
  return values;
}

/** `make()`, noted (while a step is captured) with `make` and `bytesOf` to make a later step's value. */
export function drawnValue<T>(make: () => T, bytesOf: (value: T) => Uint8Array): T {
  const value = make();
  noting?.values.push({ kind: 'drawn', bytes: bytesOf(value), again: () => bytesOf(make()) });
  return value;
}

/**
 * `make(...sources)`, noted (while a step is captured and every source is one of its inputs, made from them, or
 * undefined) as made from them: an upload of the result is then a value a later step makes from its own inputs. `make`
 * must read nothing but its sources and what does not change between steps of one shape.
 */
export function derived<const S extends readonly (object | undefined)[], T extends object>(
  sources: S,
  make: (...sources: S) => T,
): T {
  const value = make(...sources);
  if (noting === undefined) return value;
  // An absent source is absent in every step of the shape.
  const makers = sources.map((source) => (source === undefined ? () => undefined : noting!.makers.get(source)));
  if (makers.every((maker) => maker !== undefined))
    noting.makers.set(
      value,
      once((inputs) => make(...(makers.map((maker) => maker!(inputs)) as unknown as S))),
    );
  return value;
}

/**
 * `maker`, made once per step's inputs: a later step's uploads made from one array (RoPE's cos and sin from one
 * table, a kernel's labels in its forward and backward) make it once, as the step did.
 */
function once(maker: Maker): Maker {
  const made = new WeakMap<readonly object[], unknown>();
  return (inputs) => {
    if (!made.has(inputs)) made.set(inputs, maker(inputs));
    return made.get(inputs);
  };
}

/** The bytes a tensor of `dtype` holds for host values `values` (webgpu-upload.ts's element types). */
function uploadedBytes(values: unknown, dtype: string): Uint8Array {
  const typed =
    dtype === 'float32'
      ? values instanceof Float32Array
        ? values
        : Float32Array.from(values as ArrayLike<number>)
      : values instanceof Int32Array
        ? values
        : Int32Array.from(values as ArrayLike<number>);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength).slice();
}

/**
 * Called as a tensor's host values are uploaded: where they are an input of the captured step or made from its inputs,
 * the write about to be asked for carries a value a later step makes anew (`takeUploadTag`).
 */
export function noteUpload(values: unknown, dtype: string): void {
  if (noting === undefined || typeof values !== 'object' || values === null) return;
  const maker = noting.makers.get(values);
  if (maker === undefined) return;
  noting.upload = noting.values.length;
  noting.values.push({
    kind: 'upload',
    bytes: uploadedBytes(values, dtype),
    again: (inputs) => uploadedBytes(maker(inputs), dtype),
  });
}

/** The upload value noted for the write now asked of the queue, if any (the command capture's write wrapper asks). */
export function takeUploadTag(): number | undefined {
  const tag = noting?.upload;
  if (noting !== undefined) noting.upload = undefined;
  return tag;
}
