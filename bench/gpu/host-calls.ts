/**
 * What one compute dispatch costs the host, call by call, on the device the webgpu backend opened: Dawn's
 * createBindGroup (four buffers, as an elementwise op binds) and a bind group mceval kept given again, Dawn's
 * queue.writeBuffer of one dispatch's uniforms and a repeated one mceval leaves out, setPipeline + setBindGroup +
 * dispatchWorkgroups, and tfjs's whole path for one small op (tf.add of two 64-value tensors: its bookkeeping, shader
 * key, uniforms, bind group and recording). Microseconds per call, each the middle of five rounds of `calls` calls,
 * every round's commands submitted and finished before the next. Against a step's `recordingMsPerStep /
 * dispatchesPerStep`, this says which of these a GPU step's host time is made of.
 */
import { tf } from '../../src/engine/tf.js';
import { middleTime } from '../options.js';

interface Device {
  createShaderModule(descriptor: { code: string }): unknown;
  createComputePipeline(descriptor: object): { getBindGroupLayout(index: number): unknown };
  createBuffer(descriptor: { size: number; usage: number }): unknown;
  createBindGroup(descriptor: { layout: unknown; entries: unknown[] }): unknown;
  createCommandEncoder(): {
    beginComputePass(): {
      setPipeline(pipeline: unknown): void;
      setBindGroup(index: number, group: unknown): void;
      dispatchWorkgroups(x: number): void;
      end(): void;
    };
    finish(): unknown;
  };
  readonly queue: {
    writeBuffer(buffer: unknown, offset: number, data: ArrayBuffer): void;
    submit(buffers: unknown[]): void;
    onSubmittedWorkDone(): Promise<void>;
  };
}

declare const GPUBufferUsage: { STORAGE: number; UNIFORM: number; COPY_DST: number };

const CODE = `
@group(0) @binding(0) var<storage, read_write> out : array<f32>;
@group(0) @binding(1) var<storage, read> a : array<f32>;
@group(0) @binding(2) var<storage, read> b : array<f32>;
@group(0) @binding(3) var<uniform> u : vec4<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id : vec3<u32>) {
  out[id.x] = a[id.x] + b[id.x] + u.x;
}`;

async function microseconds(calls: number, round: () => void, settle: () => Promise<void>): Promise<number> {
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const started = performance.now();
    for (let i = 0; i < calls; i++) round();
    rounds.push(((performance.now() - started) * 1000) / calls);
    await settle();
  }
  return middleTime(rounds);
}

export async function hostCalls(calls = 2000) {
  const device = (tf.backend() as unknown as { device: Device }).device;
  const pipeline = device.createComputePipeline({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: CODE }), entryPoint: 'main' },
  });
  const layout = pipeline.getBindGroupLayout(0);
  const buffers = [0, 1, 2].map(() => device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE }));
  const uniforms = device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const entries = [...buffers, uniforms].map((buffer, binding) => ({ binding, resource: { buffer } }));
  const settle = () => device.queue.onSubmittedWorkDone();
  // Dawn's own calls, past the kept bind groups and uniform writes mceval installs on the device and the backend's
  // queue (kept-bind-groups.ts, kept-uniforms.ts); then those, given the same again.
  const dawnBindGroup = Object.getPrototypeOf(device).createBindGroup as Device['createBindGroup'];
  const createBindGroup = await microseconds(calls, () => dawnBindGroup.call(device, { layout, entries }), settle);
  const keptBindGroup = await microseconds(calls, () => device.createBindGroup({ layout, entries }), settle);
  const data = new ArrayBuffer(64);
  const dawnWrite = Object.getPrototypeOf(device.queue).writeBuffer as Device['queue']['writeBuffer'];
  const writeBuffer = await microseconds(calls, () => dawnWrite.call(device.queue, uniforms, 0, data), settle);
  const backendQueue = (tf.backend() as unknown as { queue: Device['queue'] }).queue;
  const repeatedUniformWrite = await microseconds(calls, () => backendQueue.writeBuffer(uniforms, 0, data), settle);
  const group = device.createBindGroup({ layout, entries });
  let encoder = device.createCommandEncoder();
  let pass = encoder.beginComputePass();
  const encode = await microseconds(
    calls,
    () => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(1);
    },
    async () => {
      pass.end();
      device.queue.submit([encoder.finish()]);
      await settle();
      encoder = device.createCommandEncoder();
      pass = encoder.beginComputePass();
    },
  );
  pass.end();
  // tfjs runs ops on this few values on the host unless told not to: the dispatch path is what is timed.
  const forward = tf.env().get('WEBGPU_CPU_FORWARD');
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  const x = tf.range(0, 64);
  const tfjsAdd = await microseconds(
    calls,
    () => tf.add(x, x).dispose(),
    async () => {
      const y = tf.add(x, x);
      await y.data();
      y.dispose();
    },
  );
  x.dispose();
  tf.env().set('WEBGPU_CPU_FORWARD', forward);
  return {
    calls,
    microseconds: {
      createBindGroup,
      keptBindGroup,
      writeBuffer,
      repeatedUniformWrite,
      setPipelineBindGroupDispatch: encode,
      tfjsAdd,
    },
  };
}
