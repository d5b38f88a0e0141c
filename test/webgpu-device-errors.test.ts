/**
 * What mceval says when the WebGPU device refuses a command (engine/webgpu-device-errors.ts). The binding message is
 * Dawn's own, recorded from lavapipe (webgpu 0.6.2, Mesa 25.0.7) refusing a 160,000,000-byte tensor. Pure, so it
 * runs in the default suite; the device path runs in `npm run test:webgpu` (test/webgpu/device-errors.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../src/errors.js';
import {
  DeviceRefusal,
  explainDeviceError,
  recordDeviceError,
  throwIfDeviceFailed,
} from '../src/engine/webgpu-device-errors.js';

const DAWN_BINDING =
  'Binding size (160000000) of [Buffer (unlabeled)] is larger than the maximum storage buffer binding size ' +
  '(134217728).\n - While validating entries[0] against { binding: 0, visibility: ShaderStage::Compute, buffer: ' +
  '{type: BufferBindingType::Storage, minBindingSize: 4, hasDynamicOffset: 0} }.\n - While validating ' +
  '[BindGroupDescriptor ""] against [BindGroupLayout (unlabeled)]\n - While calling [Device].CreateBindGroup(...).';

test('a tensor over the binding limit: both sizes and what to change, on one line', () => {
  const line = explainDeviceError({ kind: 'GPUValidationError', message: DAWN_BINDING });
  assert.match(line, /^WebGPU refused a tensor of 153 MiB: this adapter binds at most 128 MiB at once/);
  assert.match(line, /--grad-accum/);
  assert.match(line, /a smaller --eval-batch-size, or auto/);
  assert.match(line, /--backend wasm\.$/);
  assert.ok(!line.includes('\n'));
});

test('out of memory and any other error: the first line of the device’s message and what to do', () => {
  const memory = explainDeviceError({ kind: 'GPUOutOfMemoryError', message: 'Out of memory\n - While calling x' });
  assert.match(memory, /^WebGPU ran out of GPU memory \(Out of memory\), so the run stops: use a smaller batch/);
  const other = explainDeviceError({ kind: 'GPUValidationError', message: 'Invalid thing.\n - detail' });
  assert.equal(
    other,
    'WebGPU reported an error (GPUValidationError: Invalid thing.), so results computed since would be wrong and ' +
      'the run stops. Run it on --backend wasm, and please report it.',
  );
});

test('a lost device: its reason and what to do', () => {
  assert.match(
    explainDeviceError({ kind: 'GPUDeviceLost', message: 'unknown: Device lost during onSubmittedWorkDone' }),
    /^The WebGPU device was lost \(unknown: Device lost during onSubmittedWorkDone\): the GPU was reset .*wasm\.$/,
  );
});

test('the first error is kept and thrown once', () => {
  throwIfDeviceFailed();
  recordDeviceError({ kind: 'GPUOutOfMemoryError', message: 'first' });
  recordDeviceError({ kind: 'GPUValidationError', message: 'second' });
  assert.throws(throwIfDeviceFailed, { name: 'UserError', message: /\(first\)/ });
  throwIfDeviceFailed();
});

test('refused for its size (binding, memory) is a DeviceRefusal, which auto halves on; other errors are not', () => {
  const thrown = (kind: string, message: string) => {
    recordDeviceError({ kind, message });
    try {
      throwIfDeviceFailed();
    } catch (error) {
      return error;
    }
    assert.fail('nothing thrown');
  };
  assert.ok(thrown('GPUValidationError', DAWN_BINDING) instanceof DeviceRefusal);
  assert.ok(thrown('GPUOutOfMemoryError', 'Out of memory') instanceof DeviceRefusal);
  for (const [kind, message] of [
    ['GPUValidationError', 'Invalid thing.'],
    ['GPUDeviceLost', 'destroyed: Device was destroyed.'],
    ['GPUInternalError', 'internal'],
  ]) {
    const error = thrown(kind!, message!);
    assert.ok(error instanceof UserError && !(error instanceof DeviceRefusal), `${kind}: ${String(error)}`);
  }
});
