/**
 * A JavaScript UnsortedSegmentSum kernel: the gradient of `gather`, i.e. of a trainable embedding or of picking rows.
 * tfjs-backend-wasm has no such kernel, and tfjs-backend-cpu's takes ~35 s for 5,000 segments (engine-notes.md);
 * this scatter-add takes milliseconds on both.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { floatOutput, inputValues } from './backend-output.js';

/** The pure scatter-add: out[segment[i]] += x[i] for each row i (rows past numSegments or negative are dropped). */
export function scatterAddRows(
  values: ArrayLike<number>,
  segmentIds: ArrayLike<number>,
  numSegments: number,
  rowSize: number,
): Float32Array {
  const out = new Float32Array(numSegments * rowSize);
  for (let row = 0; row < segmentIds.length; row++) {
    const segment = segmentIds[row]!;
    if (segment < 0 || segment >= numSegments) continue;
    const from = row * rowSize;
    const to = segment * rowSize;
    for (let k = 0; k < rowSize; k++) out[to + k]! += values[from + k]!;
  }
  return out;
}

const unsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const values = inputValues<Float32Array>(backend, x);
  const ids = inputValues<Int32Array>(backend, segmentIds);
  const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
  const rowSize = rows === 0 ? 0 : values.length / rows;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  return floatOutput(backend, outShape, scatterAddRows(values, ids, numSegments, rowSize));
};

export function unsortedSegmentSumKernel(backendName: string): KernelConfig {
  return { kernelName: 'UnsortedSegmentSum', backendName, kernelFunc: unsortedSegmentSum };
}
