/**
 * tfjs's WebGPU backend in Node, through Dawn (npm `webgpu`, which ships a prebuilt dawn.node and needs the Vulkan
 * loader, libvulkan.so.1, at run time). Node has no `navigator`: Dawn's GPU object is put there before the backend
 * package loads, the adapter is asked for (high performance), a device is requested with the adapter's large buffer
 * and workgroup limits, and the backend is registered over that device. A software or fallback adapter (lavapipe,
 * SwiftShader) is refused unless asked for — `--backend webgpu` or MCEVAL_WEBGPU_ALLOW_FALLBACK=1 — since `auto` must
 * never pick a backend slower than wasm. What was found is kept for `mceval doctor`.
 */
import { environmentChoice } from './environment-choice.js';
import { dawnFlags, robustnessSetting } from './dawn-flags.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from './tf.js';
import { UserError } from '../errors.js';
import { patchShaderSource } from './kernels/webgpu/shader.js';
import { recordDeviceError, throwIfDeviceFailed } from './webgpu-device-errors.js';
import { uploadThroughQueue, type UploadingBackend } from './webgpu-upload.js';
import { boundPool, poolWindowSetting, type BoundedPool, type BufferPool, type PoolBytesWatch } from './webgpu-pool.js';
import { dawnAdapterKind, installDawnWait } from './dawn-wait.js';
import { keepLayouts, type PipelineMaker } from './kept-layouts.js';
import { skipRepeatedUniformWrites, UNIFORM, type WritingQueue } from './kept-uniforms.js';
import { packingUniforms, packUniforms, type UniformField } from './packed-uniforms.js';
import { applyReadTimeSettings } from './read-settings.js';
import { keepBindGroups, orderFreeBuffers, type BindGroupMaker, type OrderedPool } from './kept-bind-groups.js';

export interface WebGpuAdapterReport {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly isFallbackAdapter: boolean;
  /** The features that matter for mceval's kernels, each present or not. */
  readonly features: {
    readonly subgroups: boolean;
    readonly shaderF16: boolean;
    readonly subgroupMatrix: boolean;
    readonly timestampQuery: boolean;
  };
  /** The device's limits (the adapter's maximum, or WebGPU's defaults under MCEVAL_WEBGPU_LIMITS=default). */
  readonly limits: Readonly<Record<string, number>>;
  /** Whether the device's shaders clamp array indices (MCEVAL_WEBGPU_ROBUSTNESS, as it was when it was opened). */
  readonly robustness: 'on' | 'off';
  /** Every feature the adapter offers, by its WebGPU name. */
  readonly featureNames: readonly string[];
  /** The adapter's subgroup (warp) sizes, where it says. */
  readonly subgroupSizes?: { readonly min: number; readonly max: number };
  /** The matrix shapes and types subgroup-matrix offers (tensor cores), where Dawn reports them. */
  readonly subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[];
}

interface GpuAdapterLike {
  readonly features: ReadonlySet<string>;
  readonly limits: Record<string, number>;
  readonly info: Record<string, unknown>;
  readonly isFallbackAdapter?: boolean;
  requestDevice(descriptor: { requiredLimits: Record<string, number>; requiredFeatures: string[] }): Promise<unknown>;
}

interface DawnModule {
  create(flags: string[]): { requestAdapter(options: object): Promise<GpuAdapterLike | null> };
  globals: Record<string, unknown>;
}

/** The limits tfjs's kernels benefit from, asked for at the adapter's own maximum. */
const REQUESTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

let report: WebGpuAdapterReport | undefined;

/**
 * MCEVAL_WEBGPU_LIMITS: `adapter` (unset: the limits above, at the adapter's own maximum) or `default` (none asked
 * for: WebGPU's defaults, as a browser page gets them — 8 storage buffers per shader, 16 KiB of workgroup memory, 256
 * invocations per workgroup — so that mceval's kernels can be checked, on any adapter, as on the least capable one).
 * Read when the device is opened (once per process), and as the engine starts, so that a bad value stops a run first.
 */
export function webGpuLimitsSetting(): 'adapter' | 'default' {
  return environmentChoice('MCEVAL_WEBGPU_LIMITS', ['adapter', 'default']);
}

/** Where the Vulkan loader is looked for (LD_LIBRARY_PATH first), as the dynamic linker would. */
function vulkanLoader(): string | undefined {
  const dirs = [
    ...(process.env['LD_LIBRARY_PATH'] ?? '').split(':').filter((dir) => dir !== ''),
    '/usr/lib/x86_64-linux-gnu',
    '/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
    '/usr/local/nvidia/lib64',
  ];
  return dirs.map((dir) => join(dir, 'libvulkan.so.1')).find((path) => existsSync(path));
}

export function webGpuAdapterReport(): WebGpuAdapterReport | undefined {
  return report;
}

/** One subgroup-matrix shape and its types, as the adapter offers it (tensor cores, where the GPU has them). */
export interface SubgroupMatrixConfig {
  readonly componentType: string;
  readonly resultComponentType: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
}

/**
 * A GPUSubgroupMatrixConfig's fields, read one by one: Dawn's are getters on its prototype, which spreading the object
 * leaves out (the H200's four came back as `{}`).
 */
export function subgroupMatrixConfig(config: unknown): SubgroupMatrixConfig {
  const read = config as Record<keyof SubgroupMatrixConfig, unknown>;
  return {
    componentType: String(read.componentType),
    resultComponentType: String(read.resultComponentType),
    M: Number(read.M),
    N: Number(read.N),
    K: Number(read.K),
  };
}

/** The adapter, with `limits` those of the device opened on it. */
function describe(
  adapter: GpuAdapterLike,
  limits: Record<string, number>,
  robustness: 'on' | 'off',
): WebGpuAdapterReport {
  const info = adapter.info;
  const text = (key: string) => (typeof info[key] === 'string' ? (info[key] as string) : '');
  const fallback = adapter.isFallbackAdapter === true || info['isFallbackAdapter'] === true;
  return {
    vendor: text('vendor'),
    architecture: text('architecture'),
    device: text('device'),
    description: text('description'),
    isFallbackAdapter: fallback || /llvmpipe|lavapipe|swiftshader/i.test(`${text('description')} ${text('device')}`),
    features: {
      subgroups: adapter.features.has('subgroups'),
      shaderF16: adapter.features.has('shader-f16'),
      subgroupMatrix: adapter.features.has('chromium-experimental-subgroup-matrix'),
      timestampQuery: adapter.features.has('timestamp-query'),
    },
    limits,
    robustness,
    featureNames: [...adapter.features].sort(),
    ...(typeof info['subgroupMinSize'] === 'number' && typeof info['subgroupMaxSize'] === 'number'
      ? { subgroupSizes: { min: info['subgroupMinSize'], max: info['subgroupMaxSize'] } }
      : {}),
    ...(Array.isArray(info['subgroupMatrixConfigs'])
      ? { subgroupMatrixConfigs: (info['subgroupMatrixConfigs'] as unknown[]).map(subgroupMatrixConfig) }
      : {}),
  };
}

interface OpenedDevice {
  readonly report: WebGpuAdapterReport;
  readonly adapterInfo: unknown;
  readonly device: unknown;
}

/**
 * The Dawn instance, adapter and device, opened once per process: a backend made again (a test switching backends,
 * doctor after a run) reuses them. Each Dawn instance keeps its driver's threads and is never released — lavapipe
 * aborted in pthread code after about seven of them in one process.
 */
let opened: Promise<OpenedDevice> | undefined;

async function openDevice(): Promise<OpenedDevice> {
  const robustness = robustnessSetting();
  const flags = dawnFlags(process.env['MCEVAL_DAWN_FLAGS'] ?? '', robustness);
  // Dawn's OpenGL ES backend (MCEVAL_DAWN_FLAGS=backend=opengles) needs EGL, not Vulkan, and offers only WebGPU's
  // compatibility feature level.
  const openGl = flags.includes('backend=opengles');
  // Without the loader Dawn's Vulkan backend can only print warnings; say so without loading it.
  if (!openGl && vulkanLoader() === undefined) throw new Error('no Vulkan loader (libvulkan.so.1) on this machine');
  // Dawn polls its device through setImmediate while a promise of its is pending: mceval decides how (dawn-wait.ts).
  installDawnWait();
  const dawn = (await import('webgpu')) as unknown as DawnModule;
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create(flags);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const adapter = await gpu.requestAdapter({
    powerPreference: 'high-performance',
    ...(openGl ? { featureLevel: 'compatibility' } : {}),
  });
  if (adapter === null) {
    throw new Error('Dawn found no WebGPU adapter (no Vulkan driver, or libvulkan.so.1 missing)');
  }
  const requiredLimits =
    webGpuLimitsSetting() === 'default'
      ? {}
      : Object.fromEntries(
          REQUESTED_LIMITS.filter((name) => Number.isFinite(adapter.limits[name])).map((name) => [
            name,
            adapter.limits[name]!,
          ]),
        );
  const requiredFeatures = ['timestamp-query', 'subgroups', 'shader-f16'].filter((name) => adapter.features.has(name));
  const device = (await adapter.requestDevice({ requiredLimits, requiredFeatures })) as {
    readonly limits: Readonly<Record<string, number>>;
    createShaderModule(descriptor: { code: string }): unknown;
    readonly lost: Promise<{ reason: string; message: string }>;
    addEventListener(
      type: 'uncapturederror',
      listener: (event: { error: Error; preventDefault(): void }) => void,
    ): void;
  };
  // A command the device refuses does nothing and raises this event; the backend's reads then throw it as one line
  // (see below), so Dawn's own printing of it (several lines on stderr) is turned off.
  device.addEventListener('uncapturederror', (event) => {
    event.preventDefault();
    recordDeviceError({ kind: event.error.constructor.name, message: event.error.message });
  });
  // A lost device (the GPU reset, the driver stopped it) fails every read with an empty AbortError: say why instead,
  // and open a new device the next time a backend is made.
  void device.lost.then(({ reason, message }) => {
    opened = undefined;
    recordDeviceError({ kind: 'GPUDeviceLost', message: `${reason}: ${message}` });
  });
  // mceval's shaders ask, by marker lines, for what tfjs's shader assembly cannot write (kernels/webgpu/shader.ts).
  const createShaderModule = device.createShaderModule.bind(device);
  device.createShaderModule = (descriptor) =>
    createShaderModule({ ...descriptor, code: patchShaderSource(descriptor.code) });
  // tfjs asks a pipeline for its bind group layout at every dispatch, a call into Dawn each time: each pipeline keeps
  // the layouts it gave (kept-layouts.ts).
  keepLayouts(device as unknown as PipelineMaker);
  // …and makes a bind group at every dispatch, the same ones step after step (kept-bind-groups.ts; by its setting).
  keepBindGroups(device as unknown as BindGroupMaker);
  // The limits the kernels get are the device's: the adapter's own, or WebGPU's defaults (MCEVAL_WEBGPU_LIMITS).
  const limits = Object.fromEntries(REQUESTED_LIMITS.map((name) => [name, Number(device.limits[name])]));
  const described = describe(adapter, limits, robustness);
  dawnAdapterKind(described.isFallbackAdapter);
  return { report: described, adapterInfo: adapter.info, device };
}

/** GPUBufferUsage.COPY_DST. */
const COPY_DST = 0x0008;

/** What tfjs-webgpu's makeUniforms uses of the backend (private in its typings). */
interface UniformsMaker {
  readonly bufferManager: { acquireBuffer(size: number, usage: number): { readonly usage: number } };
  readonly queue: WritingQueue;
  readonly uniformPendingDisposal: object[];
  makeUniforms(fields: UniformField[]): { offset: number; size: number; buffer: object };
}

/** The backend's pool, bounded as MCEVAL_WEBGPU_POOL says. */
function boundedPool(backend: object): BoundedPool {
  return boundPool((backend as { bufferManager: BufferPool }).bufferManager, poolWindowSetting);
}

/**
 * Makes the `webgpu` tfjs backend available over the best adapter Dawn finds. Throws, saying why, when there is no
 * adapter or only a fallback one that was not asked for.
 */
export async function setupWebGpu(options: { readonly allowFallback: boolean }): Promise<WebGpuAdapterReport> {
  opened ??= openDevice().catch((error: unknown) => {
    // Not kept: a later call tries again.
    opened = undefined;
    throw error;
  });
  const { report: described, adapterInfo, device } = await opened;
  report = described;
  const allowFallback = options.allowFallback || process.env['MCEVAL_WEBGPU_ALLOW_FALLBACK'] === '1';
  if (report.isFallbackAdapter && !allowFallback) {
    throw new Error(
      `only a software adapter (${report.description || report.device}); ask for it with --backend webgpu`,
    );
  }
  const { WebGPUBackend } = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as {
    WebGPUBackend: new (
      device: unknown,
      adapterInfo?: unknown,
    ) => tf.KernelBackend & {
      readSync(dataId: object): unknown;
      read(dataId: object): Promise<tf.BackendValues>;
      uploadToGPU(dataId: object): void;
    };
  };
  // WebGPU has no synchronous read-back, and tfjs's browser workaround (OffscreenCanvas) does not exist in Node: a
  // synchronous read fails with a line that says what works instead.
  class NodeWebGpuBackend extends WebGPUBackend {
    // The buffer pool gives back sizes a run stopped using, checked at each read (webgpu-pool.ts).
    private readonly pool = boundedPool(this);

    constructor(...args: ConstructorParameters<typeof WebGPUBackend>) {
      super(...args);
      // While bind groups are kept, a step gets the buffers of the step before (kept-bind-groups.ts).
      orderFreeBuffers((this as unknown as { bufferManager: OrderedPool }).bufferManager);
      // …and writes the same uniforms into the same buffers: those writes are left out (kept-uniforms.ts).
      skipRepeatedUniformWrites((this as unknown as { queue: WritingQueue }).queue);
    }

    /** Starts a watch of the GPU memory the pool holds (peak-bytes.ts's watchPeakGpuBytes). */
    watchPoolBytes(): PoolBytesWatch {
      return this.pool.watch();
    }

    /** Gives the GPU back the pool's free buffers (refusal-retry.ts, before a smaller retry). */
    releaseFreeBuffers(): void {
      this.pool.release();
    }

    /** Submits the commands recorded so far (refusal-retry.ts's commitRecordedWork). */
    submitRecorded(): void {
      const recording = this as unknown as {
        commandEncoder: unknown;
        ensureCommandEncoderReady(): void;
        endComputePassEncoder(): void;
        submitQueue(): void;
      };
      if (recording.commandEncoder == null) return;
      recording.ensureCommandEncoderReady();
      recording.endComputePassEncoder();
      recording.submitQueue();
    }

    // A dispatch's uniforms as tfjs packs them, through a typed array a type rather than a field (packed-uniforms.ts).
    makeUniforms(fields: UniformField[]): { offset: number; size: number; buffer: object } {
      if (!packingUniforms())
        return (WebGPUBackend.prototype as unknown as UniformsMaker).makeUniforms.call(this, fields);
      const backend = this as unknown as UniformsMaker;
      const bytes = packUniforms(fields);
      const buffer = backend.bufferManager.acquireBuffer(bytes.byteLength, COPY_DST | UNIFORM);
      backend.queue.writeBuffer(buffer, 0, bytes, 0, bytes.byteLength);
      backend.uniformPendingDisposal.push(buffer);
      return { offset: 0, size: bytes.byteLength, buffer };
    }

    // Host values go through the queue rather than a new staging buffer each (webgpu-upload.ts).
    override uploadToGPU(dataId: object): void {
      if (!uploadThroughQueue(this as unknown as UploadingBackend, dataId)) super.uploadToGPU(dataId);
    }

    // Values read after the device refused a command may be zeros where numbers were due: the read fails instead.
    // (A read that failed on its own, as on a lost device, is explained by the device's error where there is one.)
    override async read(dataId: object): Promise<tf.BackendValues> {
      try {
        return await super.read(dataId);
      } finally {
        this.pool.settle();
        applyReadTimeSettings();
        throwIfDeviceFailed();
      }
    }

    override readSync(dataId: object): tf.BackendValues {
      // Values read asynchronously before are kept on the host: those can be returned.
      const stored = (
        this as unknown as { tensorMap: { get(id: object): { values?: unknown } | undefined } }
      ).tensorMap.get(dataId);
      if (stored?.values !== undefined && stored.values !== null) return super.readSync(dataId);
      throw new UserError(
        'This step reads a tensor synchronously, which WebGPU cannot do in Node (a code path mceval has not made ' +
          'asynchronous; please report it). Use --backend wasm for this run, or tfjs-node(-gpu) where it installs.',
      );
    }
  }
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new NodeWebGpuBackend(device, adapterInfo), 3);
  return report;
}
