/**
 * One AdamW update of a parameter as a single kernel, `McevalAdamW` (cpu and wasm): inputs p, g, m, v; outputs the new
 * p, m and v. The same float32 operations in the same order as the fourteen tfjs ops it replaces (src/train/adamw.ts),
 * so values are bit-identical: each step is computed in float64 and rounded to float32, which for +, −, ×, ÷ and √ of
 * float32 operands gives the correctly rounded float32 result. A training step updates ~70 LoRA matrices; this saves
 * ~900 kernel launches per step (tens of microseconds each on wasm).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { floatOutput, inputValues } from './backend-output.js';

export const ADAMW_UPDATE = 'McevalAdamW';

/** The update's scalars, as the tfjs ops take them (each becomes a float32 scalar). */
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

/** The updated parameter and moments. */
export function adamwUpdateValues(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  c: AdamWCoefficients,
): { p: Float32Array; m: Float32Array; v: Float32Array } {
  // Each scalar as the float32 scalar tensor tfjs makes of it.
  const beta1 = f(c.beta1);
  const beta2 = f(c.beta2);
  const oneMinusBeta1 = f(1 - c.beta1);
  const oneMinusBeta2 = f(1 - c.beta2);
  const correction2 = f(c.correction2);
  const epsilon = f(c.epsilon);
  const decay = f(c.decay);
  const stepSize = f(c.stepSize);
  const out = { p: new Float32Array(p.length), m: new Float32Array(p.length), v: new Float32Array(p.length) };
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    const mi = f(f(m[i]! * beta1) + f(gi * oneMinusBeta1));
    const vi = f(f(v[i]! * beta2) + f(f(gi * gi) * oneMinusBeta2));
    const denominator = f(f(f(Math.sqrt(vi)) / correction2) + epsilon);
    out.m[i] = mi;
    out.v[i] = vi;
    out.p[i] = f(f(p[i]! * decay) - f(f(mi / denominator) * stepSize));
  }
  return out;
}

const adamwUpdate: KernelFunc = ({ inputs, backend, attrs }) => {
  const { p, g, m, v } = inputs as Record<'p' | 'g' | 'm' | 'v', TensorInfo>;
  const values = (t: TensorInfo) => inputValues<Float32Array>(backend, t);
  const next = adamwUpdateValues(values(p), values(g), values(m), values(v), attrs as unknown as AdamWCoefficients);
  // Outputs are made after every input was read: making one can grow the wasm heap and detach the views.
  return [
    floatOutput(backend, p.shape, next.p),
    floatOutput(backend, p.shape, next.m),
    floatOutput(backend, p.shape, next.v),
  ];
};

export function adamwUpdateKernel(backendName: string): KernelConfig {
  return { kernelName: ADAMW_UPDATE, backendName, kernelFunc: adamwUpdate };
}
