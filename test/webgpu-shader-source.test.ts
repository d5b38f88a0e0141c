/**
 * patchShaderSource (engine/kernels/webgpu/shader.ts), which carries out what mceval's WGSL kernels ask of tfjs's
 * assembled shader source by marker lines: writable inputs and WGSL directives. Pure string work, so it runs in
 * the default suite; the kernels that rely on it run in `npm run test:webgpu`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { patchShaderSource, runShader } from '../src/engine/kernels/webgpu/shader.js';

const ASSEMBLED = `struct Uniforms { NAN : f32, count : i32, };
      @group(0) @binding(0) var<storage, read_write> result: array<f32>;
      @group(0) @binding(1) var<storage, read> p: array<f32>;
      @group(0) @binding(2) var<storage, read> m: array<f32>;
      @group(0) @binding(3) var<storage, read> mask: array<i32>;
`;

test('a source without markers (tfjs’s own shaders) is returned unchanged', () => {
  assert.equal(patchShaderSource(ASSEMBLED), ASSEMBLED);
});

test('writable inputs become read-write, and only they', () => {
  const patched = patchShaderSource(`${ASSEMBLED}// mceval-writable: m\nfn main() {}\n`);
  assert.match(patched, /var<storage, read_write> m: array<f32>/);
  assert.match(patched, /var<storage, read> p: array<f32>/);
  assert.match(patched, /var<storage, read> mask: array<i32>/);
  assert.match(patched, /var<storage, read_write> result: array<f32>/);
});

test('an input named like the prefix of another is not touched', () => {
  const patched = patchShaderSource(`${ASSEMBLED}// mceval-writable: m\n`);
  assert.match(patched, /var<storage, read> mask/);
});

test('directives come first, in their order, each closed by a semicolon', () => {
  const patched = patchShaderSource(
    `${ASSEMBLED}// mceval-writable: m p\n// mceval-directive: enable subgroups\n` +
      '  // mceval-directive: diagnostic(off, subgroup_uniformity)\nfn main() {}\n',
  );
  assert.ok(patched.startsWith('enable subgroups;\ndiagnostic(off, subgroup_uniformity);\nstruct Uniforms'));
  assert.match(patched, /var<storage, read_write> p:/);
});

test('marking an input the shader does not declare is an error that names it', () => {
  assert.throws(() => patchShaderSource(`${ASSEMBLED}// mceval-writable: v\n`), /marks v writable/);
});

test('a kernel’s WGSL is built only when tfjs compiles its pipeline, not at each dispatch', () => {
  let built = 0;
  const programs: { getUserCode(): string; shaderKey: string }[] = [];
  const backend = {
    device: { limits: {} },
    makeTensorInfo: () => ({ dataId: {}, shape: [4], dtype: 'float32' as const }),
    // tfjs's runWebGPUProgram compiles (calls getUserCode) only for a key it has not seen: here, never.
    runWebGPUProgram(program: object) {
      programs.push(program as (typeof programs)[number]);
      return { dataId: {}, shape: [4], dtype: 'float32' as const };
    },
    disposeData: () => true,
  };
  const shader = {
    key: 'Lazy',
    inputs: [{ name: 'x', components: 1 as const, writable: true }],
    uniforms: '',
    workgroupSize: 64,
    dispatch: [1, 1] as const,
    outputSize: 4,
    code: () => {
      built++;
      return 'fn main() {}';
    },
  };
  for (let i = 0; i < 3; i++) runShader(backend, shader, [], []);
  assert.equal(built, 0);
  const source = programs[0]!.getUserCode();
  assert.equal(built, 1);
  assert.match(source, /\/\/ mceval-writable: x\nfn main\(\) \{\}/);
});
