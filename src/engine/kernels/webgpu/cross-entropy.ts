/**
 * The rows' cross-entropy on webgpu as two kernels, for engine/ops/cross-entropy.ts: `McevalCrossEntropy` (logits
 * [rows, classes] → logsumexp(z) − z[label] per row) and `McevalCrossEntropyGrad` (logits and an optional upstream dy
 * [rows] → (softmax(z) − onehot(label))·dy), the labels an attribute uploaded for the call. One workgroup per row: its
 * invocations take every n-th class (n the workgroup's size), and the row's maximum and its sum of e^{z − max} are
 * trees in workgroup memory, in the same order every time. In tfjs ops the loss is eight dispatches (logSumExp's six,
 * the gather of the labels' logits and a subtraction) and its gradient four (a one-hot, softmax, a subtraction, a
 * multiplication), each reading or writing [rows, classes] — at an LM head, a chunk of up to 2²⁴ logits.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  elementwiseDispatch,
  intUniform,
  runShader,
  scalarInputs,
  shaped,
  withHostInt32,
  workgroupMaxCode,
  workgroupSumCode,
  type WebGpuBackendLike,
} from './shader.js';
import { ROW_INDEX_CODE } from './row-shader.js';

export const CROSS_ENTROPY = 'McevalCrossEntropy';
export const CROSS_ENTROPY_GRAD = 'McevalCrossEntropyGrad';

/** The kernels' attribute: each row's label, a class index. */
export interface CrossEntropyAttrs {
  readonly labels: Int32Array;
}

/**
 * Invocations per row: 256 for a vocabulary (128k classes are 500 per invocation, and a chunk's few hundred rows are
 * then enough invocations to fill a GPU), 64 for fewer classes (a byte vocabulary, a classifier), where a wider
 * workgroup only adds levels to its trees: on lavapipe a stories260K LoRA step (512 classes) took 1,639–1,680 ms with
 * 64 against 1,786–1,929 with 256.
 */
const workgroupFor = (classes: number): number => (classes >= 8192 ? 256 : 64);

/**
 * The row's largest logit `most` and Σ e^{z − most} `total`, in every invocation; `base` the row's first logit. A label
 * out of range is clamped to the row (the callers' labels are classes).
 */
const rowStatistics = (workgroup: number) => `
  let row = rowIndex();
  let live = row < uniforms.rows;
  let clamped = min(row, uniforms.rows - 1);
  let base = clamped * uniforms.classes;
  let label = clamp(labels[clamped], 0, uniforms.classes - 1);
  var largest = -3.4e38;
  for (var c = i32(localIndex); c < uniforms.classes; c += ${workgroup}) {
    largest = max(largest, logits[base + c]);
  }
  let most = workgroupMax(largest);
  var sum = 0.0;
  for (var c = i32(localIndex); c < uniforms.classes; c += ${workgroup}) {
    sum += exp(logits[base + c] - most);
  }
  let total = workgroupSum(sum);`;

const helpers = (workgroup: number) =>
  `${workgroupMaxCode(workgroup)}${workgroupSumCode('f32', workgroup)}${ROW_INDEX_CODE}`;

const forwardCode = (workgroup: number) => `${helpers(workgroup)}
fn main() {${rowStatistics(workgroup)}
  if (live && localIndex == 0u) {
    result[row] = most + log(total) - logits[base + label];
  }
}
`;

/** The gradient, times dy[row] where `upstream`. */
const backwardCode = (workgroup: number, upstream: boolean) => `${helpers(workgroup)}
fn main() {${rowStatistics(workgroup)}
  let factor = ${upstream ? 'dy[clamped]' : '1.0'};
  if (live) {
    for (var c = i32(localIndex); c < uniforms.classes; c += ${workgroup}) {
      let hot = select(0.0, 1.0, c == label);
      result[base + c] = (exp(logits[base + c] - most) / total - hot) * factor;
    }
  }
}
`;

function run(
  gpu: WebGpuBackendLike,
  logits: TensorInfo,
  labels: Int32Array,
  dy: TensorInfo | undefined,
  grad: boolean,
) {
  const [rows, classes] = logits.shape as [number, number];
  const workgroup = workgroupFor(classes);
  const name = grad ? `McevalCrossEntropyGrad${dy === undefined ? '' : 'Upstream'}` : 'McevalCrossEntropy';
  const names = ['logits', 'labels', ...(dy === undefined ? [] : ['dy'])];
  return withHostInt32(gpu, [rows], labels, (labelTensor) =>
    runShader(
      gpu,
      {
        key: `${name}_${workgroup}`,
        inputs: scalarInputs(names),
        uniforms: 'rows : i32, classes : i32,',
        workgroupSize: workgroup,
        dispatch: elementwiseDispatch(rows, 1),
        outputSize: grad ? rows * classes : rows,
        code: () => (grad ? backwardCode(workgroup, dy !== undefined) : forwardCode(workgroup)),
      },
      [logits, labelTensor, ...(dy === undefined ? [] : [dy])],
      [intUniform(rows), intUniform(classes)],
    ),
  );
}

const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { logits } = inputs as { logits: TensorInfo };
  const { labels } = attrs as unknown as CrossEntropyAttrs;
  return shaped(run(backend as unknown as WebGpuBackendLike, logits, labels, undefined, false), [logits.shape[0]!]);
};

const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { logits, dy } = inputs as { logits: TensorInfo; dy?: TensorInfo };
  const { labels } = attrs as unknown as CrossEntropyAttrs;
  return shaped(run(backend as unknown as WebGpuBackendLike, logits, labels, dy, true), [...logits.shape]);
};

export function webGpuCrossEntropyKernels(): KernelConfig[] {
  return [
    { kernelName: CROSS_ENTROPY, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: CROSS_ENTROPY_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
