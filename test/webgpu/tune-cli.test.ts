/**
 * `mceval tune` as users run it (a real process) on the adapter at hand: it times the settings asked for, finds that
 * their values give the same losses here, and writes what it keeps under the adapter's name; later processes on the
 * adapter apply the file where the environment does not set a value (doctor says which); a broken file or none to
 * write is one line and a non-zero exit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mceval } from '../helpers.js';
import { readTuningFile } from '../../src/engine/tuning/tuning-file.js';
import type { TuneCommandResult } from '../../src/commands/tune.js';

const TINY = ['tune', '--model', 'builtin:tiny', '--batch', '2', '--length', '16', '--steps', '1'];
const TUNE = [...TINY, '--rounds', '1'];

test('mceval tune times the settings asked for, keeps their losses, and writes what it keeps for this adapter', () => {
  const root = mkdtempSync(join(tmpdir(), 'mceval-tune-'));
  try {
    const file = join(root, 'tuning.json');
    const settings = ['MCEVAL_WEBGPU_ATTENTION_GRADIENT', 'MCEVAL_WEBGPU_JOINS', 'MCEVAL_WEBGPU_GROUPS'];
    const { code, stdout, stderr } = mceval([...TUNE, ...settings.flatMap((s) => ['--setting', s]), '--json'], {
      MCEVAL_WEBGPU_TUNING: file,
      MCEVAL_WEBGPU_GROUPS: 'auto',
    });
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout) as TuneCommandResult;
    // The environment's value is not tuned over; the others in the order docs/gpu.md lists them.
    assert.deepEqual(result.fixed, ['MCEVAL_WEBGPU_GROUPS']);
    assert.deepEqual(
      result.outcomes.map(({ variable, timings }) => [variable, timings.map(({ value }) => value)]),
      [
        ['MCEVAL_WEBGPU_ATTENTION_GRADIENT', ['apart']],
        ['MCEVAL_WEBGPU_JOINS', ['shaders']],
      ],
    );
    // Both change how a step is computed, not what: the same losses, bit for bit, from one seed.
    for (const { timings } of result.outcomes)
      for (const timing of timings) assert.ok(timing.sameLosses, `${timing.value} changed the losses`);
    assert.equal(result.file, file);
    const entry = readTuningFile(file)[result.adapter];
    assert.deepEqual(entry?.settings, result.chosen);
    assert.deepEqual(entry?.tunedOn, { model: 'builtin:tiny', adapter: 'lora', batch: 2, length: 16 });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("mceval tune trains full fine-tuning's values from the same weights, the model's put back after each", () => {
  const root = mkdtempSync(join(tmpdir(), 'mceval-tune-full-'));
  try {
    const args = [...TINY, '--adapter', 'full', '--setting', 'MCEVAL_WEBGPU_JOINS', '--rounds', '2', '--json'];
    const { code, stdout, stderr } = mceval(args, { MCEVAL_WEBGPU_TUNING: join(root, 'tuning.json') });
    assert.equal(code, 0, stderr + stdout);
    const [timing] = (JSON.parse(stdout) as TuneCommandResult).outcomes[0]!.timings;
    // Trained on from the weights the training before it left, a value's losses would differ.
    assert.equal(timing?.sameLosses, true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a tuning file for the adapter is applied where the environment sets no value, and doctor says so', () => {
  const root = mkdtempSync(join(tmpdir(), 'mceval-tuned-'));
  try {
    const file = join(root, 'tuning.json');
    const doctor = (env: Record<string, string>) =>
      mceval(['doctor', '--json', '--size', '32', '--backend', 'webgpu'], env);
    // The adapter's name, as tune writes it: doctor reports none for it in an empty file.
    writeFileSync(file, JSON.stringify({ format: 1, adapters: {} }));
    const before = JSON.parse(doctor({ MCEVAL_WEBGPU_TUNING: file }).stdout) as {
      webgpu: { vendor: string; architecture: string; device: string; description: string };
      webgpuTuning: { found: boolean };
    };
    assert.equal(before.webgpuTuning.found, false);
    const { vendor, architecture, device, description } = before.webgpu;
    const key = [vendor, architecture, device, description].map((part) => part || '-').join(' | ');
    const settings = { MCEVAL_WEBGPU_PRODUCT_TILE: '128', MCEVAL_WEBGPU_ROPE: 'apart' };
    const tunedOn = { model: 'builtin:tiny', adapter: 'lora', batch: 2, length: 16 };
    writeFileSync(file, JSON.stringify({ format: 1, adapters: { [key]: { settings, tunedOn, date: '' } } }));
    const { code, stdout, stderr } = doctor({ MCEVAL_WEBGPU_TUNING: file, MCEVAL_WEBGPU_ROPE: 'inside' });
    assert.equal(code, 0, stderr);
    const tuned = JSON.parse(stdout) as {
      webgpuTuning: { applied: Record<string, string>; overridden: string[]; found: boolean };
      webgpuSettings: { productTile: number; rope: string };
    };
    assert.deepEqual(tuned.webgpuTuning, {
      file,
      applied: { MCEVAL_WEBGPU_PRODUCT_TILE: '128' },
      overridden: ['MCEVAL_WEBGPU_ROPE'],
      found: true,
    });
    assert.equal(tuned.webgpuSettings.productTile, 128);
    assert.equal(tuned.webgpuSettings.rope, 'inside');
    const lines = mceval(['doctor', '--size', '32', '--backend', 'webgpu'], { MCEVAL_WEBGPU_TUNING: file }).stdout;
    assert.match(
      lines,
      new RegExp(
        `Tuning from ${file.replace(/[.]/g, '\\.')}: MCEVAL_WEBGPU_PRODUCT_TILE=128, MCEVAL_WEBGPU_ROPE=apart\n`,
      ),
    );
    assert.match(lines, /product tile 128 \(MCEVAL_WEBGPU_PRODUCT_TILE\)/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a broken tuning file, or none to write to, stops with one line', () => {
  const root = mkdtempSync(join(tmpdir(), 'mceval-tuning-broken-'));
  try {
    const file = join(root, 'tuning.json');
    writeFileSync(file, '{"format": 1, "adapters": {');
    const broken = mceval(['doctor', '--size', '32', '--backend', 'webgpu'], { MCEVAL_WEBGPU_TUNING: file });
    assert.notEqual(broken.code, 0);
    // Dawn's own warnings on a software adapter aside.
    const errors = broken.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('Warning: '));
    assert.equal(errors.length, 1, broken.stderr);
    assert.match(errors[0]!, new RegExp(`^Error: The tuning file ${file.replace(/[.]/g, '\\.')} is not JSON`));
    const off = mceval([...TUNE, '--setting', 'MCEVAL_WEBGPU_JOINS'], { MCEVAL_WEBGPU_TUNING: 'off' });
    assert.notEqual(off.code, 0);
    assert.equal(
      off.stderr,
      'Error: MCEVAL_WEBGPU_TUNING=off leaves nowhere to write the tuning: unset it or name a file.\n',
    );
    assert.ok(!existsSync(join(root, 'off')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
