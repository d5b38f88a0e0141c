/**
 * subgroupMatrixConfig (engine/webgpu.ts): the adapter report's subgroup-matrix shapes, read field by field. Dawn's
 * GPUSubgroupMatrixConfig keeps its fields as getters on its prototype, as the class below does; the H200's report
 * spread them and showed `{}` four times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subgroupMatrixConfig } from '../src/engine/webgpu.js';

class PrototypeConfig {
  get componentType() {
    return 'f16';
  }
  get resultComponentType() {
    return 'f32';
  }
  get M() {
    return 8;
  }
  get N() {
    return 8;
  }
  get K() {
    return 16;
  }
}

test('a subgroup-matrix configuration is read field by field, where spreading it finds nothing', () => {
  const config = new PrototypeConfig();
  assert.deepEqual({ ...config }, {});
  assert.deepEqual(subgroupMatrixConfig(config), {
    componentType: 'f16',
    resultComponentType: 'f32',
    M: 8,
    N: 8,
    K: 16,
  });
});
