/**
 * Run by robustness.test.ts in a process of its own (the device is opened once per process, with the robustness
 * MCEVAL_WEBGPU_ROBUSTNESS says then): prints, as JSON, the robustness the device reports, what a shader reads from
 * a workgroup array one past its end (clamped to its last element where indices are clamped), and the losses of four
 * steps each of LoRA with dropout, DoRA and MonteCLoRA on builtin:tiny.
 */
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { webGpuAdapterReport } from '../../src/engine/webgpu.js';
import { loadModel } from '../../src/models/load.js';
import { stepper, type Method } from '../../bench/gpu/step-methods.js';

declare const GPUBufferUsage: Record<'STORAGE' | 'UNIFORM' | 'COPY_SRC' | 'COPY_DST' | 'MAP_READ', number>;
declare const GPUMapMode: { READ: number };

interface ProbeDevice {
  createBuffer(descriptor: { size: number; usage: number }): ProbeBuffer;
  createShaderModule(descriptor: { code: string }): unknown;
  createComputePipeline(descriptor: object): { getBindGroupLayout(index: number): unknown };
  createBindGroup(descriptor: object): unknown;
  createCommandEncoder(): {
    beginComputePass(): {
      setPipeline(p: unknown): void;
      setBindGroup(i: number, g: unknown): void;
      dispatchWorkgroups(x: number): void;
      end(): void;
    };
    copyBufferToBuffer(a: ProbeBuffer, ao: number, b: ProbeBuffer, bo: number, size: number): void;
    finish(): unknown;
  };
  readonly queue: { writeBuffer(b: ProbeBuffer, o: number, d: ArrayBufferView): void; submit(c: unknown[]): void };
}

interface ProbeBuffer {
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  destroy(): void;
}

// The index comes from a uniform, so that the compiler cannot see it is out of bounds.
const PROBE = `
@group(0) @binding(0) var<uniform> index : vec4<i32>;
@group(0) @binding(1) var<storage, read_write> result : array<f32>;
var<workgroup> values : array<f32, 4>;
@compute @workgroup_size(1) fn main() {
  values[0] = 1.0; values[1] = 2.0; values[2] = 3.0; values[3] = 4.0;
  result[0] = values[index.x];
}`;

/** What the probe shader reads at index 5 of a 4-element workgroup array. */
async function outOfBounds(device: ProbeDevice): Promise<number> {
  const index = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(index, 0, new Int32Array([5, 0, 0, 0]));
  const result = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const module = device.createShaderModule({ code: PROBE });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: index } },
      { binding: 1, resource: { buffer: result } },
    ],
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(1);
  pass.end();
  encoder.copyBufferToBuffer(result, 0, read, 0, 16);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const value = new Float32Array(read.getMappedRange())[0]!;
  [index, result, read].forEach((buffer) => buffer.destroy());
  return value;
}

await initEngine('webgpu');
const device = (tf.backend() as unknown as { device: ProbeDevice }).device;
const losses: Record<string, number[]> = {};
for (const method of ['lora-dropout', 'dora', 'monteclora'] as Method[]) {
  const { model } = loadModel('builtin:tiny');
  const run = stepper(model, 2, 16, 3, method);
  losses[method] = [];
  for (let step = 0; step < 4; step++) losses[method].push(await run.step());
  run.dispose();
  model.dispose();
}
const robustness = webGpuAdapterReport()?.robustness;
console.log(JSON.stringify({ robustness, outOfBounds: await outOfBounds(device), losses }));
process.exit(0);
