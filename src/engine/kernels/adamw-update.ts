/**
 * AdamW updates of several parameters as a single kernel, `McevalAdamW` (cpu and wasm): inputs p0, g0, m0, v0, p1, …
 * and, optionally, `scale`, which multiplies every gradient; attribute `coefficients`, six numbers per parameter
 * (AdamWCoefficients in order); outputs the new p of each. The moments m and v are rewritten in place: they are the
 * optimizer's own state, read by nothing else, and new buffers cost two tensors and two assignments per parameter. The
 * parameter gets a new buffer, as tfjs's assign expects: tfjs-wasm caches a packed copy of each matrix-product operand
 * by buffer, so rewriting a weight in place would leave products using its old values. The same float32 operations in
 * the same order as the fourteen tfjs ops it replaces (src/train/adamw.ts), so values are bit-identical: each step is
 * computed in float64 and rounded to float32, which for +, −, ×, ÷ and √ of float32 operands gives the correctly
 * rounded float32 result. A training step updates ~70 LoRA matrices (and MonteCLoRA's ~70 priors); one launch for them
 * all replaces ~14 launches per parameter, tens of microseconds each on wasm.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { floatOutput, inputValues } from './backend-output.js';

export const ADAMW_UPDATE = 'McevalAdamW';

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

/** The updated parameter; m and v are updated in place. The gradient is g·`scale` (a clipping coefficient). */
export function adamwUpdateValues(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  c: AdamWCoefficients,
  scale = 1,
): Float32Array {
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
  const next = new Float32Array(p.length);
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
  return next;
}

export const COEFFICIENT_KEYS = ['beta1', 'beta2', 'correction2', 'epsilon', 'decay', 'stepSize'] as const;

/**
 * The kernel's inputs and attributes for updating each parameter with its gradient, moments and coefficients; with
 * `gradientScale` (a one-value tensor: gradient clipping's coefficient, made on the device) every gradient is
 * multiplied by it first, which spares a multiplication per parameter.
 */
export function adamwUpdateInvocation(
  parameters: readonly {
    p: TensorInfo;
    g: TensorInfo;
    m: TensorInfo;
    v: TensorInfo;
    coefficients: AdamWCoefficients;
  }[],
  gradientScale?: TensorInfo,
): { inputs: Record<string, TensorInfo>; attrs: { coefficients: number[] } } {
  const inputs: Record<string, TensorInfo> = gradientScale === undefined ? {} : { scale: gradientScale };
  parameters.forEach(({ p, g, m, v }, i) =>
    Object.assign(inputs, { [`p${i}`]: p, [`g${i}`]: g, [`m${i}`]: m, [`v${i}`]: v }),
  );
  const coefficients = parameters.flatMap(({ coefficients: c }) => COEFFICIENT_KEYS.map((key) => c[key]));
  return { inputs, attrs: { coefficients } };
}

const adamwUpdate: KernelFunc = ({ inputs, backend, attrs }) => {
  const values = (t: TensorInfo) => inputValues<Float32Array>(backend, t);
  const flat = (attrs as unknown as { coefficients: number[] }).coefficients;
  const count = flat.length / COEFFICIENT_KEYS.length;
  const scale = inputs['scale'] === undefined ? 1 : values(inputs['scale'])[0]!;
  const updates = Array.from({ length: count }, (_, i) => {
    const c = Object.fromEntries(COEFFICIENT_KEYS.map((key, k) => [key, flat[i * COEFFICIENT_KEYS.length + k]!]));
    const [p, g, m, v] = ['p', 'g', 'm', 'v'].map((name) => values(inputs[`${name}${i}`]!));
    return adamwUpdateValues(p!, g!, m!, v!, c as unknown as AdamWCoefficients, scale);
  });
  // Outputs are made after every input was read: making one can grow the wasm heap and detach the views.
  return updates.map((next, i) => floatOutput(backend, inputs[`p${i}`]!.shape, next));
};

export function adamwUpdateKernel(backendName: string): KernelConfig {
  return { kernelName: ADAMW_UPDATE, backendName, kernelFunc: adamwUpdate };
}
