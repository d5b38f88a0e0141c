/** A stand-in for the webgpu backend that has only device limits, for the tests of what a device's limits allow. */
import type { WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';

/** A device with `buffers` storage buffers per shader stage and `bytes` of workgroup memory. */
export const deviceWithLimits = (buffers: number, bytes: number): WebGpuBackendLike =>
  ({
    device: { limits: { maxComputeWorkgroupStorageSize: bytes, maxStorageBuffersPerShaderStage: buffers } },
  }) as unknown as WebGpuBackendLike;
