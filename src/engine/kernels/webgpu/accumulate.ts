/**
 * `McevalAccumulate` on webgpu: inputs s0, t0, s1, t1, … (each pair one shape); outputs s_k + t_k, for as many pairs
 * as one shader can bind per dispatch, where tfjs's Add takes a dispatch per pair. Gradient accumulation adds every
 * parameter's gradient to its running sum once per micro-batch: a hundred and more pairs, each a dispatch the host
 * records. The sum is written over s_k where that is safe (in-place.ts: nothing else holds s_k's buffer), so that a
 * pair binds two buffers, eight at 16 storage buffers; else it gets a new buffer. The caller gives up the sums it
 * passes: after the call their tensors may hold the new values. The same float32 additions as tfjs's Add.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { sharedOutput } from '../backend-output.js';
import { bindingRuns, inputsByBuffer, writableInPlace } from './in-place.js';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  forgetHostCopy,
  intUniform,
  runShader,
  shaped,
  sizeOf,
  storageBuffersPerShader,
  type ShaderInput,
  type WebGpuBackendLike,
} from './shader.js';

export const ACCUMULATE = 'McevalAccumulate';

const WORKGROUP = 256;

interface Pair {
  readonly s: TensorInfo;
  readonly t: TensorInfo;
  readonly size: number;
  /** s + t is written over s (else into a new buffer). */
  readonly inPlace: boolean;
}

/**
 * Pair k's bindings and its line of the shader. The first pair's sum is the shader's output (`result`): s itself
 * when written in place, which is then not bound again.
 */
function pairOf(k: number, inPlace: boolean): { inputs: ShaderInput[]; line: string } {
  const guard = (body: string) => `
  if (i < uniforms.count${k}) {
    ${body}
  }`;
  if (k === 0)
    return inPlace
      ? { inputs: [{ name: 't0', components: 1 }], line: guard('result[i] = result[i] + t0[i];') }
      : { inputs: ['s0', 't0'].map((name) => ({ name, components: 1 })), line: guard('result[i] = s0[i] + t0[i];') };
  return inPlace
    ? {
        inputs: [
          { name: `s${k}`, components: 1, writable: true },
          { name: `t${k}`, components: 1 },
        ],
        line: guard(`s${k}[i] = s${k}[i] + t${k}[i];`),
      }
    : {
        inputs: [
          { name: `s${k}`, components: 1 },
          { name: `t${k}`, components: 1 },
          { name: `next${k}`, components: 1, writable: true },
        ],
        line: guard(`next${k}[i] = s${k}[i] + t${k}[i];`),
      };
}

/** Adds the pairs in one dispatch; returns their sums, shaped as their s. */
function accumulateTogether(gpu: WebGpuBackendLike, pairs: readonly Pair[]): TensorInfo[] {
  const [first] = pairs as [Pair];
  const next = pairs.map((pair, k) =>
    pair.inPlace || k === 0 ? undefined : gpu.makeTensorInfo([pair.size], 'float32'),
  );
  const parts = pairs.map((pair, k) => pairOf(k, pair.inPlace));
  const output = runShader(
    gpu,
    {
      key: `McevalAccumulate_${pairs.map((pair) => (pair.inPlace ? 'i' : 'n')).join('')}`,
      inputs: parts.flatMap((part) => part.inputs),
      uniforms: pairs.map((_, k) => `count${k} : i32,`).join(' '),
      workgroupSize: WORKGROUP,
      dispatch: elementwiseDispatch(Math.max(...pairs.map((pair) => pair.size)), WORKGROUP),
      outputSize: first.size,
      code: () => `
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};${parts.map((part) => part.line).join('')}
}
`,
    },
    pairs.flatMap(({ s, t }, k) => [...(k === 0 && first.inPlace ? [] : [s]), t, ...(next[k] ? [next[k]] : [])]),
    pairs.map((pair) => intUniform(pair.size)),
    first.inPlace ? shaped(first.s, [first.size]) : undefined,
  );
  return pairs.map((pair, k) => {
    if (pair.inPlace) {
      // A host copy left by an earlier read of s would now be stale.
      forgetHostCopy(gpu, pair.s);
      return sharedOutput(gpu, pair.s);
    }
    const made = k === 0 ? output : next[k]!;
    return { dataId: made.dataId, shape: [...pair.s.shape], dtype: 'float32' };
  });
}

const accumulate: KernelFunc = ({ inputs, backend }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const bound = inputsByBuffer(Object.values(inputs) as TensorInfo[]);
  const count = Object.keys(inputs).length / 2;
  const pairs = Array.from({ length: count }, (_, k): Pair => {
    const [s, t] = [inputs[`s${k}`]!, inputs[`t${k}`]!];
    return { s, t, size: sizeOf(s), inPlace: writableInPlace(gpu, s, bound) };
  });
  const runs = bindingRuns(pairs, (pair) => (pair.inPlace ? 2 : 3), storageBuffersPerShader(gpu));
  return runs.flatMap((run) => accumulateTogether(gpu, run));
};

export function webGpuAccumulateKernel(): KernelConfig {
  return { kernelName: ACCUMULATE, backendName: 'webgpu', kernelFunc: accumulate };
}
