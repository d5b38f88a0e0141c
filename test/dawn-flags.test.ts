/**
 * The flags Dawn is opened with (engine/dawn-flags.ts): mceval's toggles and the user's MCEVAL_DAWN_FLAGS toggles in
 * one `enable-dawn-features` flag (Dawn keeps one value per flag name), `disable_robustness` only under
 * MCEVAL_WEBGPU_ROBUSTNESS=off, the user's other flags as given. test/webgpu/robustness.test.ts opens devices with
 * them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dawnFlags, parseDawnFlags, robustnessSetting } from '../src/engine/dawn-flags.js';
import { withEnv } from './helpers.js';

test("mceval's toggles, and disable_robustness only when robustness is off", () => {
  assert.deepEqual(dawnFlags('', 'on'), ['enable-dawn-features=allow_unsafe_apis']);
  assert.deepEqual(dawnFlags('', 'off'), ['enable-dawn-features=allow_unsafe_apis,disable_robustness']);
  assert.deepEqual(dawnFlags('backend=opengles', 'off'), [
    'enable-dawn-features=allow_unsafe_apis,disable_robustness',
    'backend=opengles',
  ]);
});

test("the user's toggles join mceval's in one flag, an item without = continuing the flag before it", () => {
  assert.deepEqual(parseDawnFlags('backend=opengles,enable-dawn-features=use_dxc,dump_shaders,validate=1'), [
    'backend=opengles',
    'enable-dawn-features=use_dxc,dump_shaders',
    'validate=1',
  ]);
  assert.deepEqual(dawnFlags('enable-dawn-features=dump_shaders,allow_unsafe_apis,backend=vulkan', 'off'), [
    'enable-dawn-features=allow_unsafe_apis,disable_robustness,dump_shaders',
    'backend=vulkan',
  ]);
});

test('MCEVAL_WEBGPU_ROBUSTNESS: on unset, off, and one line for a bad value', async () => {
  assert.equal(await withEnv('MCEVAL_WEBGPU_ROBUSTNESS', undefined, robustnessSetting), 'on');
  assert.equal(await withEnv('MCEVAL_WEBGPU_ROBUSTNESS', 'off', robustnessSetting), 'off');
  await assert.rejects(
    withEnv('MCEVAL_WEBGPU_ROBUSTNESS', 'none', robustnessSetting),
    /MCEVAL_WEBGPU_ROBUSTNESS=none is not a choice mceval has: use on or off, or unset it\./,
  );
});
