/** What `mceval doctor` and the GPU benchmark report about the WebGPU adapter, against the adapter itself. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { webGpuAdapterReport } from '../../src/engine/webgpu.js';
import { attentionLanes, subgroupFloor } from '../../src/engine/kernels/webgpu/attention-lanes.js';
import { mceval } from '../helpers.js';

test('the adapter report lists every feature, agrees with its named ones, and gives the subgroup sizes', async () => {
  await initEngine('webgpu');
  const report = webGpuAdapterReport()!;
  assert.ok(report.featureNames.length > 0);
  assert.deepEqual([...report.featureNames].sort(), report.featureNames);
  assert.equal(report.features.subgroups, report.featureNames.includes('subgroups'));
  assert.equal(report.features.shaderF16, report.featureNames.includes('shader-f16'));
  assert.equal(report.features.subgroupMatrix, report.featureNames.includes('chromium-experimental-subgroup-matrix'));
  // Every adapter with subgroups says how wide they are (lavapipe: 8; NVIDIA: 32).
  if (report.features.subgroups) {
    const sizes = report.subgroupSizes!;
    assert.ok(sizes.min >= 1 && sizes.min <= sizes.max, JSON.stringify(sizes));
  }
});

test('with subgroups, attention at head size 64 runs its lane-shared shaders by default', async () => {
  await initEngine('webgpu');
  const floor = subgroupFloor(webGpuAdapterReport());
  // The attention tests' "by head size" cases then exercise the subgroup shuffles (lavapipe's subgroups hold 8).
  if (webGpuAdapterReport()!.features.subgroups) assert.equal(attentionLanes(16, floor, 'auto'), 2);
  else assert.equal(attentionLanes(16, floor, 'auto'), 1);
});

/** `mceval doctor --json` on webgpu (a software adapter allowed) with `env` added. */
function doctorOnWebGpu(env: Record<string, string>): Record<string, unknown> {
  const { code, stdout } = mceval(['doctor', '--json', '--size', '32', '--backend', 'webgpu'], {
    MCEVAL_WEBGPU_ALLOW_FALLBACK: '1',
    ...env,
  });
  assert.equal(code, 0);
  return JSON.parse(stdout) as Record<string, unknown>;
}

test('doctor says up to which size a low-rank layer forms its narrow products inside its product', () => {
  const upTo = (env: Record<string, string>) => doctorOnWebGpu(env)['webgpuInlineNarrowUpTo'];
  assert.equal(upTo({}), 2 ** 31);
  assert.equal(upTo({ MCEVAL_WEBGPU_INLINE_NARROW: 'always' }), null);
  assert.equal(upTo({ MCEVAL_WEBGPU_INLINE_NARROW: 'never' }), 0);
});

test("doctor gives the settings bench/gpu times, tfjs's flags among them set from mceval's variables", () => {
  const settings = (env: Record<string, string>) => doctorOnWebGpu(env)['webgpuSettings'];
  // mceval's submit every 60 dispatches (tfjs's is 15), tfjs's matMul threshold by GPU.
  assert.deepEqual(settings({}), {
    productTile: 64,
    productCode: 'loops',
    productPrefetch: 'off',
    products: 'transposed',
    weightGradients: 'split',
    weightGradientSums: 'later',
    groups: 'auto',
    activations: 'inside',
    rests: 'alongside',
    rope: 'inside',
    attentionGradient: 'together',
    submitBatch: 60,
    matmulThreshold: 'by GPU',
    fewRows: 16,
    // A software adapter: mceval's poll sleeps where Dawn's would spin on a core the driver needs.
    wait: 'sleep',
    overlap: 'on',
    replay: 'off',
    pool: 'sizes unused over 4 reads given back',
    bindGroups: 'kept',
    joins: 'copies',
    savedTensors: 'shared',
    uniforms: 'packed',
  });
  assert.deepEqual(
    settings({
      MCEVAL_WEBGPU_PRODUCT_TILE: '128',
      MCEVAL_WEBGPU_PRODUCT_CODE: 'unrolled',
      MCEVAL_WEBGPU_PRODUCT_PREFETCH: 'on',
      MCEVAL_WEBGPU_WEIGHT_GRADIENTS: 'tfjs',
      MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS: 'now',
      MCEVAL_WEBGPU_SUBMIT_BATCH: '15',
      MCEVAL_WEBGPU_MATMUL_THRESHOLD: '64',
      MCEVAL_WEBGPU_GROUPS: 'never',
      MCEVAL_WEBGPU_ACTIVATIONS: 'apart',
      MCEVAL_WEBGPU_RESTS: 'apart',
      MCEVAL_WEBGPU_ROPE: 'apart',
      MCEVAL_WEBGPU_ATTENTION_GRADIENT: 'apart',
      MCEVAL_WEBGPU_PRODUCTS: 'all',
      MCEVAL_WEBGPU_FEW_ROWS: '4',
      MCEVAL_WEBGPU_WAIT: '2',
      MCEVAL_WEBGPU_OVERLAP: 'off',
      MCEVAL_WEBGPU_REPLAY: 'on',
      MCEVAL_WEBGPU_POOL: 'keep',
      MCEVAL_WEBGPU_BIND_GROUPS: 'new',
      MCEVAL_WEBGPU_JOINS: 'shaders',
      MCEVAL_SAVED_TENSORS: 'cloned',
      MCEVAL_WEBGPU_UNIFORMS: 'tfjs',
    }),
    {
      productTile: 128,
      productCode: 'unrolled',
      productPrefetch: 'on',
      products: 'all',
      weightGradients: 'tfjs',
      weightGradientSums: 'now',
      groups: 'never',
      activations: 'apart',
      rests: 'apart',
      rope: 'apart',
      attentionGradient: 'apart',
      submitBatch: 15,
      matmulThreshold: 64,
      fewRows: 4,
      wait: 'spin 2 ms, then sleep',
      overlap: 'off',
      replay: 'on',
      pool: "tfjs's, kept whole",
      bindGroups: 'new',
      joins: 'shaders',
      savedTensors: 'cloned',
      uniforms: 'tfjs',
    },
  );
});

test("MCEVAL_WEBGPU_LIMITS=default opens the device with WebGPU's default limits, and doctor reports the device's", async (t) => {
  // The compatibility feature level (Dawn's OpenGL ES backend) has defaults of its own.
  if ((process.env['MCEVAL_DAWN_FLAGS'] ?? '').includes('backend=opengles')) {
    t.skip("the OpenGL ES backend's compatibility defaults differ from core WebGPU's");
    return;
  }
  const limits = (setting: string) =>
    (doctorOnWebGpu({ MCEVAL_WEBGPU_LIMITS: setting })['webgpu'] as { limits: Record<string, number> }).limits;
  const [adapter, defaults] = [limits('adapter'), limits('default')];
  assert.equal(defaults['maxStorageBuffersPerShaderStage'], 8);
  assert.equal(defaults['maxComputeWorkgroupStorageSize'], 16384);
  assert.equal(defaults['maxComputeInvocationsPerWorkgroup'], 256);
  for (const [name, value] of Object.entries(defaults)) assert.ok(adapter[name]! >= value, name);
});
