/**
 * `McevalAdamW` on webgpu (the contract of engine/kernels/adamw-update.ts: inputs p0, g0, p1, g1, …, the moment banks m
 * and v and the gradients' optional `scale`; six coefficients and a bank offset per parameter; outputs the new p of
 * each) as one elementwise shader for as many parameters as the device lets it bind, where tfjs's ops take fourteen
 * dispatches per parameter: m ← β₁m + (1 − β₁)g and v ← β₂v + (1 − β₂)g² written back into the banks at the
 * parameter's offset (the m bank is the shader's output, v a writable input), and p′ = p·(1 − lr·λ) − (m / (√v / √(1 −
 * β₂ᵗ) + ε))·lr / (1 − β₁ᵗ). The same float32 operations in the same order as the tfjs ops, though a GPU may fuse a
 * multiply and an add.
 *
 * p′ is written over p, and p returned as the output, where that is safe: no other tensor holds p's buffer (tfjs
 * counts references: a reshape of the parameter, or a tensor it was assigned from and that is still held, would change
 * with it) and no other input of the dispatch is p's buffer (WebGPU refuses a buffer bound writable and read-only at
 * once). A parameter then binds two buffers (p, g), so six go in one dispatch at 16 storage buffers, beside the banks
 * and the scale; at WebGPU's minimum of 8, two. Elsewhere p′ gets a new buffer, a third binding.
 *
 * The gradients of parameters under JOINED_BELOW values (a LoRA factor, MonteCLoRA's priors) are read from one buffer
 * per dispatch instead, copied into it back to back (buffer copies, no dispatch; under MCEVAL_WEBGPU_JOINS=copies):
 * such a parameter then binds p alone, and twelve go in one dispatch at 16 — builtin:medium's LoRA step updates its
 * 168 factors in 14 dispatches where it took 28. Each gradient's values are the same; so are the updates. Where the
 * caller gives the gradients joined already (the global norm's joins: fineTune's steps), each parameter's gradient is
 * read where it is there, whatever its size, and nothing is copied: stories260K's LoRA step made 70 copies fewer.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { ADAMW_UPDATE, HOLD_VALUES, adamwParameters } from '../adamw-update.js';
import { sharedOutput } from '../backend-output.js';
import { bindingRuns, inputsByBuffer, writableInPlace } from './in-place.js';
import { joinedByCopies, joinsSetting } from './buffer-copies.js';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  floatUniform,
  forgetHostCopy,
  intUniform,
  runShader,
  shaped,
  sizeOf,
  storageBuffersPerShader,
  type ShaderInput,
  type WebGpuBackendLike,
} from './shader.js';
import { keptPerNumber } from '../../kept-per-number.js';

const WORKGROUP = 256;

/** A parameter's own uniform fields (suffix _k). */
const PARAMETER_FIELDS = [
  'count : i32',
  'offset : i32',
  // Where the parameter's gradient starts in the dispatch's joined gradients (0, unread, where it binds its own).
  'gradientAt : i32',
];

/**
 * The fields of one set of coefficients (suffix _c and the set's number), which a dispatch's parameters of one group
 * share: one set for an adapter, two for LoRA+'s A and B. Written once a set rather than once a parameter, a dispatch of
 * twelve parameters writes 44 uniforms where it wrote 132, which tfjs packs one by one at every dispatch. 1 − β is
 * computed in float64 and rounded, as the tfjs ops' scalar is (1 − 0.999 in float32 is 1.3e-5 off).
 */
const COEFFICIENT_FIELDS = [
  'beta1 : f32',
  'oneMinusBeta1 : f32',
  'beta2 : f32',
  'oneMinusBeta2 : f32',
  'correction2 : f32',
  'epsilon : f32',
  'decay : f32',
  'stepSize : f32',
];

/**
 * Parameters with fewer values than this have their gradients joined (module comment): copies of a few MiB a step at
 * most for an adapter, where a full fine-tuning's large matrices keep their own bindings rather than be copied.
 */
const JOINED_BELOW = 1 << 18;

interface Parameter {
  readonly p: TensorInfo;
  readonly g: TensorInfo;
  readonly size: number;
  /** Where its moments start in the banks. */
  readonly offset: number;
  /** p′ is written over p (else into a new buffer). */
  readonly inPlace: boolean;
  /** Its gradient is read from the dispatch's joined gradients (else from g's own binding). */
  readonly joined: boolean;
  /** The caller's join its gradient is in, and where it starts there. */
  readonly given?: { readonly values: TensorInfo; readonly at: number };
  /** Its coefficients, in COEFFICIENT_FIELDS' order. */
  readonly coefficients: readonly number[];
}

const fieldsWith = (fields: readonly string[], suffix: string) =>
  fields.map((field) => field.replace(' :', `${suffix} :`)).join(', ') + ',';

/** The uniform fields of `count` parameters, then of `sets` sets of coefficients. */
const uniformFields = keptPerNumber((count) =>
  keptPerNumber((sets) =>
    [
      ...Array.from({ length: count }, (_, k) => fieldsWith(PARAMETER_FIELDS, `_${k}`)),
      ...Array.from({ length: sets }, (_, c) => fieldsWith(COEFFICIENT_FIELDS, `_c${c}`)),
    ].join(' '),
  ),
);

/** The distinct sets of coefficients of `parameters`, and the set of each. */
function coefficientSets(parameters: readonly Parameter[]): { sets: (readonly number[])[]; setOf: number[] } {
  const numbers = new Map<string, number>();
  const sets: (readonly number[])[] = [];
  const setOf = parameters.map(({ coefficients }) => {
    const key = coefficients.join();
    let set = numbers.get(key);
    if (set === undefined) {
      set = sets.push(coefficients) - 1;
      numbers.set(key, set);
    }
    return set;
  });
  return { sets, setOf };
}

/**
 * Parameter k's bindings: p (writable when updated in place), g unless its gradient is joined and, when not in place,
 * its new value.
 */
function inputsOf(k: number, { inPlace, joined }: Parameter): ShaderInput[] {
  return [
    { name: `p${k}`, components: 1, ...(inPlace ? { writable: true } : {}) },
    ...(joined ? [] : [{ name: `g${k}`, components: 1 as const }]),
    ...(inPlace ? [] : [{ name: `next${k}`, components: 1 as const, writable: true }]),
  ];
}

/** Parameter k's update, its coefficients those of set `set`. */
function updateOf(k: number, set: number, { inPlace, joined }: Parameter, scaled: boolean, held: boolean): string {
  const u = (name: string) => `uniforms.${name}_${k}`;
  const c = (name: string) => `uniforms.${name}_c${set}`;
  const target = inPlace ? `p${k}` : `next${k}`;
  const update = `
    let at = ${u('offset')} + i;
    let gradient = ${joined ? `gradients[${u('gradientAt')} + i]` : `g${k}[i]`}${scaled ? ' * scale[0]' : ''};
    let moment = result[at] * ${c('beta1')} + gradient * ${c('oneMinusBeta1')};
    let second = v[at] * ${c('beta2')} + (gradient * gradient) * ${c('oneMinusBeta2')};
    result[at] = moment;
    v[at] = second;
    let denominator = sqrt(second) / ${c('correction2')} + ${c('epsilon')};
    ${target}[i] = p${k}[i] * ${c('decay')} - (moment / denominator) * ${c('stepSize')};`;
  if (!held) return `\n  if (i < ${u('count')}) {${update}\n  }`;
  // The step before diverged: nothing is written but the old p into a new buffer (kept is the same for every
  // invocation).
  return `
  if (i < ${u('count')} && !kept) {${update}
  }${inPlace ? '' : `\n  if (i < ${u('count')} && kept) {\n    ${target}[i] = p${k}[i];\n  }`}`;
}

/** Whether the step before, whose numbers `hold` holds, diverged: one of them not finite (NaN or ±∞). */
const KEPT = `
  var kept = false;
  for (var h = 0; h < ${HOLD_VALUES}; h++) {
    kept = kept || (bitcast<u32>(hold[h]) & 0x7f800000u) == 0x7f800000u;
  }`;

/** The parameters in dispatch order, each dispatch binding no more storage buffers than the device allows. */
function dispatches(
  gpu: WebGpuBackendLike,
  parameters: readonly Parameter[],
  scaled: boolean,
  held: boolean,
): Parameter[][] {
  // The m bank (the output) and the v bank, then the scale, the step before's numbers and the joined gradients.
  const joins = parameters.some((parameter) => parameter.joined);
  const available = storageBuffersPerShader(gpu) - 2 - Number(scaled) - Number(held) - Number(joins);
  return bindingRuns(parameters, (parameter) => 1 + Number(!parameter.inPlace) + Number(!parameter.joined), available);
}

/**
 * Updates one run of parameters, the gradients of its joined ones first copied into one buffer; where fewer than two
 * are joined, or the copies cannot be made, they read their own (the run cut again to fit).
 */
function updateRun(
  gpu: WebGpuBackendLike,
  run: readonly Parameter[],
  banks: { m: TensorInfo; v: TensorInfo },
  scale?: TensorInfo,
  hold?: TensorInfo,
): TensorInfo[] {
  const joined = run.filter((parameter) => parameter.joined);
  const total = joined.reduce((sum, parameter) => sum + parameter.size, 0);
  const gradients =
    joined.length < 2
      ? undefined
      : joinedByCopies(
          gpu,
          joined.map(({ g, size }) => shaped(g, [size])),
          0,
          [total],
          { hostValuesToo: true },
        );
  if (gradients === undefined) {
    const own = run.map((parameter) => ({ ...parameter, joined: false }));
    return dispatches(gpu, own, scale !== undefined, hold !== undefined).flatMap((part) =>
      updateTogether(gpu, part, banks, scale, hold),
    );
  }
  // Each joined gradient where the copies put it: after the joined ones before it.
  let next = 0;
  const at = run.map(({ joined, size }) => (joined ? (next += size) - size : 0));
  try {
    return updateTogether(gpu, run, banks, scale, hold, { values: gradients, at });
  } finally {
    gpu.disposeData(gradients.dataId);
  }
}

/** The parameters cut where the join their gradients are given in changes (undefined: none given). */
function byGivenJoin(parameters: readonly Parameter[]): { join?: TensorInfo; parameters: Parameter[] }[] {
  const segments: { join?: TensorInfo; parameters: Parameter[] }[] = [];
  for (const parameter of parameters) {
    const join = parameter.given?.values;
    const last = segments.at(-1);
    if (last !== undefined && last.join === join) last.parameters.push(parameter);
    else segments.push({ ...(join === undefined ? {} : { join }), parameters: [parameter] });
  }
  return segments;
}

/**
 * Updates `parameters` in one dispatch, their gradients multiplied by `scale` if given, none of them where `hold` says
 * the step before diverged; returns their new values.
 */
function updateTogether(
  gpu: WebGpuBackendLike,
  parameters: readonly Parameter[],
  banks: { m: TensorInfo; v: TensorInfo },
  scale?: TensorInfo,
  hold?: TensorInfo,
  gradients?: { readonly values: TensorInfo; readonly at: readonly number[] },
): TensorInfo[] {
  const largest = Math.max(...parameters.map((parameter) => parameter.size));
  const next = parameters.map((parameter) =>
    parameter.inPlace ? undefined : gpu.makeTensorInfo([parameter.size], 'float32'),
  );
  const { sets, setOf } = coefficientSets(parameters);
  // Per parameter: in place (i) or new (n), in capitals where its gradient is read from the joined ones; its set.
  const layout = parameters
    .map(({ inPlace, joined }, k) => {
      const letter = inPlace ? 'i' : 'n';
      return `${joined ? letter.toUpperCase() : letter}${setOf[k]}`;
    })
    .join('');
  const uniforms = [
    ...parameters.flatMap((parameter, k) => [
      intUniform(parameter.size),
      intUniform(parameter.offset),
      intUniform(parameter.joined ? gradients!.at[k]! : 0),
    ]),
    ...sets.flatMap((set) => set.map(floatUniform)),
  ];
  const held = hold !== undefined;
  runShader(
    gpu,
    {
      key: `McevalAdamW_${layout}_${Number(scale !== undefined)}${held ? '_held' : ''}`,
      inputs: [
        { name: 'v', components: 1, writable: true },
        ...(scale === undefined ? [] : [{ name: 'scale', components: 1 as const }]),
        ...(hold === undefined ? [] : [{ name: 'hold', components: 1 as const }]),
        ...(gradients === undefined ? [] : [{ name: 'gradients', components: 1 as const }]),
        ...parameters.flatMap((parameter, k) => inputsOf(k, parameter)),
      ],
      uniforms: uniformFields(parameters.length)(sets.length),
      workgroupSize: WORKGROUP,
      dispatch: elementwiseDispatch(largest, WORKGROUP),
      outputSize: sizeOf(banks.m),
      code: () => `
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};${held ? KEPT : ''}${parameters
    .map((parameter, k) => updateOf(k, setOf[k]!, parameter, scale !== undefined, held))
    .join('')}
}
`,
    },
    [
      banks.v,
      ...(scale === undefined ? [] : [scale]),
      ...(hold === undefined ? [] : [hold]),
      ...(gradients === undefined ? [] : [gradients.values]),
      ...parameters.flatMap(({ p, g, joined }, k) => [
        p,
        ...(joined ? [] : [g]),
        ...(next[k] === undefined ? [] : [next[k]]),
      ]),
    ],
    uniforms,
    banks.m,
  );
  // A host copy left by an earlier read of what was rewritten would now be stale.
  [banks.m, banks.v].forEach((bank) => forgetHostCopy(gpu, bank));
  return parameters.map((parameter, k) => {
    if (!parameter.inPlace) return { dataId: next[k]!.dataId, shape: [...parameter.p.shape], dtype: 'float32' };
    forgetHostCopy(gpu, parameter.p);
    return sharedOutput(gpu, parameter.p);
  });
}

const adamwUpdate: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const bound = inputsByBuffer(Object.values(inputs) as TensorInfo[]);
  const joining = joinsSetting() === 'copies';
  const parameters = adamwParameters(attrs).map(({ coefficients: c, offset, joined: given }, i): Parameter => {
    const [p, g] = [inputs[`p${i}`]!, inputs[`g${i}`]!];
    const size = sizeOf(p);
    const coefficients = [c.beta1, 1 - c.beta1, c.beta2, 1 - c.beta2, c.correction2, c.epsilon, c.decay, c.stepSize];
    const inPlace = writableInPlace(gpu, p, bound);
    if (given !== undefined) {
      const join = { values: inputs[`joined${given.values}`]!, at: given.at };
      return { p, g, size, offset, inPlace, joined: true, given: join, coefficients };
    }
    const joined = joining && size < JOINED_BELOW && g.dtype === 'float32';
    return { p, g, size, offset, inPlace, joined, coefficients };
  });
  const [scale, hold] = [inputs['scale'], inputs['hold']];
  const banks = { m: inputs['m']!, v: inputs['v']! };
  const [scaled, held] = [scale !== undefined, hold !== undefined];
  return byGivenJoin(parameters).flatMap(({ join, parameters: segment }) =>
    dispatches(gpu, segment, scaled, held).flatMap((run) =>
      join === undefined
        ? updateRun(gpu, run, banks, scale, hold)
        : updateTogether(gpu, run, banks, scale, hold, { values: join, at: run.map(({ given }) => given!.at) }),
    ),
  );
};

export function webGpuAdamwUpdateKernel(): KernelConfig {
  return { kernelName: ADAMW_UPDATE, backendName: 'webgpu', kernelFunc: adamwUpdate };
}
