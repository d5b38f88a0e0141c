/**
 * MCEVAL_WEBGPU_ROBUSTNESS (engine/dawn-flags.ts), each value in a process of its own (robustness-probe.ts): the device
 * reports the robustness it was opened with; under `on` a shader's out-of-bounds read of a workgroup array is clamped
 * to its last element, under `off` it is not (Dawn's disable_robustness reached the device); and LoRA with dropout,
 * DoRA and MonteCLoRA train to the same losses bit for bit either way — mceval's kernels read nothing out of bounds
 * that a clamp would have changed. doctor says which it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mceval } from '../helpers.js';

const PROBE = fileURLToPath(new URL('./robustness-probe.js', import.meta.url));

interface Probe {
  readonly robustness: string;
  readonly outOfBounds: number;
  readonly losses: Record<string, number[]>;
}

function probe(robustness: 'on' | 'off'): Probe {
  const run = spawnSync(process.execPath, [PROBE], {
    encoding: 'utf8',
    env: { ...process.env, MCEVAL_WEBGPU_ROBUSTNESS: robustness, MCEVAL_WEBGPU_ALLOW_FALLBACK: '1' },
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Probe;
}

test('robustness off reaches the device: no clamp on an out-of-bounds read, the same losses bit for bit', () => {
  const [on, off] = [probe('on'), probe('off')];
  assert.equal(on.robustness, 'on');
  assert.equal(off.robustness, 'off');
  // Clamped to values[3].
  assert.equal(on.outOfBounds, 4);
  assert.notEqual(off.outOfBounds, 4);
  assert.deepEqual(Object.keys(on.losses), ['lora-dropout', 'dora', 'monteclora']);
  for (const losses of Object.values(on.losses)) assert.ok(losses.every(Number.isFinite));
  assert.deepEqual(off.losses, on.losses);
});

test('doctor reports whether the shaders clamp their indices', () => {
  for (const [setting, clamped] of [
    ['on', 'yes'],
    ['off', 'no'],
  ] as const) {
    const { code, stdout } = mceval(['doctor', '--size', '32', '--backend', 'webgpu'], {
      MCEVAL_WEBGPU_ALLOW_FALLBACK: '1',
      MCEVAL_WEBGPU_ROBUSTNESS: setting,
    });
    assert.equal(code, 0);
    assert.match(
      stdout,
      new RegExp(`shaders' array indices clamped: ${clamped} \\(MCEVAL_WEBGPU_ROBUSTNESS=${setting}\\)`),
    );
    const json = mceval(['doctor', '--json', '--size', '32', '--backend', 'webgpu'], {
      MCEVAL_WEBGPU_ALLOW_FALLBACK: '1',
      MCEVAL_WEBGPU_ROBUSTNESS: setting,
    });
    assert.equal((JSON.parse(json.stdout) as { webgpu: { robustness: string } }).webgpu.robustness, setting);
  }
});
