/**
 * AdamW updates of several parameters as a single kernel, `McevalAdamW` (cpu, wasm and webgpu): inputs p0, g0, p1, g1,
 * …, the moment banks `m` and `v` (flat: every parameter's moments at its offset, the optimizer's own state) and,
 * optionally, `scale`, which multiplies every gradient, and `hold`, the step before's HOLD_VALUES numbers (a loop that
 * records a step before reading the one before it: where any of them is not finite, that step diverged, and every
 * parameter and moment is kept as it is, new p its old values); attributes `coefficients`, six numbers per parameter
 * (AdamWCoefficients in order), and `offsets`, one per parameter; outputs the new p of each. Optionally, gradients
 * joined already (`joined0`, `joined1`, …: the global norm's joins, ops/squared-norm.ts) and, per parameter, the join
 * its gradient's values are also in and where they start (attributes `joinedGroups`, −1 for none, and `joinedAt`): the
 * webgpu kernel reads them there rather than copy them into a join of its own; cpu and wasm read g. The banks are
 * rewritten in place: read by nothing else, and one buffer for all moments lets a GPU shader bind two per parameter
 * (p, g) rather than five. On cpu and wasm the new p gets a new buffer, as tfjs's assign expects: tfjs-wasm caches a packed
 * copy of each matrix-product operand by buffer, so rewriting a weight in place would leave products using its old
 * values. webgpu may return p itself, rewritten in place (webgpu/adamw-update.ts says when). The same float32
 * operations in the same order as the fourteen tfjs ops it replaces (src/train/adamw.ts), so values are bit-identical:
 * each step is computed in float64 and rounded to float32, which for +, −, ×, ÷ and √ of float32 operands gives the
 * correctly rounded float32 result. A training step updates ~70 LoRA matrices (and MonteCLoRA's priors); one launch for
 * them all replaces ~14 launches per parameter, tens of microseconds each on wasm.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { filledOutput, inputValues } from './backend-output.js';

export const ADAMW_UPDATE = 'McevalAdamW';

/** The values of `hold` it reads: the step before's total loss, task loss and gradient norm (a step log may follow). */
export const HOLD_VALUES = 3;

/** The update's scalars, as the tfjs ops take them (each becomes a float32 scalar), in the kernel's order. */
export interface AdamWCoefficients {
  readonly beta1: number;
  readonly beta2: number;
  /** √(1 − β₂ᵗ). */
  readonly correction2: number;
  readonly epsilon: number;
  /** 1 − lr·λ. */
  readonly decay: number;
  /** lr / (1 − β₁ᵗ). */
  readonly stepSize: number;
}

const f = Math.fround;

/**
 * Writes the updated parameter into `next`; m and v (this parameter's moments) are updated in place. The gradient is
 * g·`scale` (a clipping coefficient).
 */
export function adamwUpdateInto(
  next: Float32Array,
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  c: AdamWCoefficients,
  scale = 1,
): void {
  // Each scalar as the float32 scalar tensor tfjs makes of it.
  const beta1 = f(c.beta1);
  const beta2 = f(c.beta2);
  const oneMinusBeta1 = f(1 - c.beta1);
  const oneMinusBeta2 = f(1 - c.beta2);
  const correction2 = f(c.correction2);
  const epsilon = f(c.epsilon);
  const decay = f(c.decay);
  const stepSize = f(c.stepSize);
  const gradientScale = f(scale);
  for (let i = 0; i < p.length; i++) {
    // tf.mul(g, scale) as the tfjs ops' caller would form it (× 1 leaves g as it is).
    const gi = f(g[i]! * gradientScale);
    const mi = f(f(m[i]! * beta1) + f(gi * oneMinusBeta1));
    const vi = f(f(v[i]! * beta2) + f(f(gi * gi) * oneMinusBeta2));
    const denominator = f(f(f(Math.sqrt(vi)) / correction2) + epsilon);
    m[i] = mi;
    v[i] = vi;
    next[i] = f(f(p[i]! * decay) - f(f(mi / denominator) * stepSize));
  }
}

export const COEFFICIENT_KEYS = ['beta1', 'beta2', 'correction2', 'epsilon', 'decay', 'stepSize'] as const;

/** A parameter's share of one update: its coefficients and where its moments start in the banks. */
export interface AdamWParameter {
  readonly coefficients: AdamWCoefficients;
  readonly offset: number;
}

/** Where a gradient's values are also found: in a flat tensor of joined gradients, from `at` on. */
export interface JoinedGradient<Joined> {
  readonly values: Joined;
  readonly at: number;
}

/**
 * The kernel's attributes: six coefficients per parameter, and its moments' offset in the banks; where joined
 * gradients are given, the number of each parameter's join (−1 for none) and where its gradient starts there.
 */
export interface AdamWAttrs {
  readonly coefficients: number[];
  readonly offsets: number[];
  readonly joinedGroups?: number[];
  readonly joinedAt?: number[];
}

/**
 * The kernel's inputs and attributes for updating each parameter with its gradient, coefficients and offset in the
 * moment banks m and v; with `scale` (a one-value tensor: gradient clipping's coefficient, made on the device) every
 * gradient is multiplied by it first, which spares a multiplication per parameter; `hold` as the module comment says.
 * A parameter's `joined` names a join its gradient's values are also in (each join an input once).
 */
export function adamwUpdateInvocation(
  parameters: readonly (AdamWParameter & { p: TensorInfo; g: TensorInfo; joined?: JoinedGradient<TensorInfo> })[],
  moments: { m: TensorInfo; v: TensorInfo },
  { scale, hold }: { scale?: TensorInfo; hold?: TensorInfo } = {},
): { inputs: Record<string, TensorInfo>; attrs: AdamWAttrs } {
  const inputs: Record<string, TensorInfo> = {
    ...moments,
    ...(scale === undefined ? {} : { scale }),
    ...(hold === undefined ? {} : { hold }),
  };
  parameters.forEach(({ p, g }, i) => Object.assign(inputs, { [`p${i}`]: p, [`g${i}`]: g }));
  const coefficients = parameters.flatMap(({ coefficients: c }) => COEFFICIENT_KEYS.map((key) => c[key]));
  const attrs = { coefficients, offsets: parameters.map(({ offset }) => offset) };
  if (parameters.every(({ joined }) => joined === undefined)) return { inputs, attrs };
  const joins: TensorInfo[] = [];
  const joinedGroups = parameters.map(({ joined }) => {
    if (joined === undefined) return -1;
    const known = joins.indexOf(joined.values);
    return known >= 0 ? known : joins.push(joined.values) - 1;
  });
  joins.forEach((values, k) => (inputs[`joined${k}`] = values));
  return { inputs, attrs: { ...attrs, joinedGroups, joinedAt: parameters.map(({ joined }) => joined?.at ?? 0) } };
}

/** Each parameter's coefficients and offset, and the number of its join and where its gradient starts there if any. */
export function adamwParameters(attrs: unknown): (AdamWParameter & { joined?: JoinedGradient<number> })[] {
  const { coefficients: flat, offsets, joinedGroups, joinedAt } = attrs as AdamWAttrs;
  return offsets.map((offset, i) => {
    const values = flat.slice(i * COEFFICIENT_KEYS.length, (i + 1) * COEFFICIENT_KEYS.length);
    const coefficients = Object.fromEntries(COEFFICIENT_KEYS.map((key, k) => [key, values[k]!]));
    const group = joinedGroups?.[i] ?? -1;
    return {
      coefficients: coefficients as unknown as AdamWCoefficients,
      offset,
      ...(group < 0 ? {} : { joined: { values: group, at: joinedAt![i]! } }),
    };
  });
}

/**
 * Each output is made before the parameter is read and written into: making one can grow the wasm heap and detach
 * views taken earlier, so every view is taken afresh; and no parameter's new values wait in a JavaScript array.
 */
const adamwUpdate: KernelFunc = ({ inputs, backend, attrs }) => {
  const values = (t: TensorInfo) => inputValues<Float32Array>(backend, t);
  const scale = inputs['scale'] === undefined ? 1 : values(inputs['scale'])[0]!;
  // The numbers past HOLD_VALUES (an adapter's step log, fine-tune.ts) are not the step's loss or norm.
  const held = inputs['hold'] !== undefined && !values(inputs['hold']).subarray(0, HOLD_VALUES).every(Number.isFinite);
  return adamwParameters(attrs).map(({ coefficients, offset }, i) => {
    const [p, g] = [inputs[`p${i}`]!, inputs[`g${i}`]!];
    return filledOutput(backend, [...p.shape], (next) => {
      if (held) return next.set(values(p));
      const [m, v] = [values(inputs['m']!), values(inputs['v']!)].map((bank) =>
        bank.subarray(offset, offset + next.length),
      );
      adamwUpdateInto(next, values(p), values(g), m!, v!, coefficients, scale);
    });
  });
};

export function adamwUpdateKernel(backendName: string): KernelConfig {
  return { kernelName: ADAMW_UPDATE, backendName, kernelFunc: adamwUpdate };
}
