/**
 * `mceval tune`'s sweep (engine/tuning/tune.ts) over a made-up step whose time and losses follow the environment as
 * a card's would, and the tuning file (engine/tuning/tuning-file.ts): written whole, read back, checked value by value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tuneSettings, type TimedSteps } from '../src/engine/tuning/tune.js';
import { adapterKey, readTuningFile, tuningPath, writeTunedEntry } from '../src/engine/tuning/tuning-file.js';
import { UserError } from '../src/errors.js';
import { withEnv } from './with-env.js';
import { checkEngineSettings } from '../src/engine/backends.js';
import { TUNABLE_SETTINGS } from '../src/engine/tuning/tunable-settings.js';

const SETTINGS = [
  { variable: 'MCEVAL_TEST_TILE', values: ['64', '128'] },
  { variable: 'MCEVAL_TEST_EXACT', values: ['yes', 'no'] },
  { variable: 'MCEVAL_TEST_THREE', values: ['a', 'b', 'c'] },
  { variable: 'MCEVAL_TEST_AFTER_TILE', values: ['off', 'on'] },
] as const satisfies readonly { variable: string; values: readonly [string, ...string[]] }[];

/**
 * A step of 100 ms at the defaults: a 128 tile saves 20%, EXACT=no 30% but changes the losses, THREE=b 1% (within the
 * margin) and c 25%, AFTER_TILE=on 10% but only with the 128 tile (slower by 10% with 64): what it keeps shows that each
 * setting is timed with the values kept before it. Each call is noted with the environment it saw.
 */
function madeUpStep(calls: string[]): () => Promise<TimedSteps> {
  return async () => {
    const value = (variable: string) => process.env[variable] ?? '';
    calls.push(SETTINGS.map(({ variable }) => value(variable)).join(','));
    let ms = 100;
    if (value('MCEVAL_TEST_TILE') === '128') ms *= 0.8;
    if (value('MCEVAL_TEST_EXACT') === 'no') ms *= 0.7;
    if (value('MCEVAL_TEST_THREE') === 'b') ms *= 0.99;
    if (value('MCEVAL_TEST_THREE') === 'c') ms *= 0.75;
    if (value('MCEVAL_TEST_AFTER_TILE') === 'on') ms *= value('MCEVAL_TEST_TILE') === '128' ? 0.9 : 1.1;
    const losses = value('MCEVAL_TEST_EXACT') === 'no' ? [2.5, 2.25000001] : [2.5, 2.25];
    return { msPerStep: ms, losses };
  };
}

test('the sweep keeps the faster values that give the same losses, each timed with those kept before it', async () => {
  const calls: string[] = [];
  const result = await tuneSettings({ settings: SETTINGS, rounds: 3, margin: 0.03, measure: madeUpStep(calls) });
  assert.deepEqual(result.chosen, {
    MCEVAL_TEST_TILE: '128',
    MCEVAL_TEST_THREE: 'c',
    MCEVAL_TEST_AFTER_TILE: 'on',
  });
  const outcome = (variable: string) => result.outcomes.find((o) => o.variable === variable)!;
  assert.deepEqual(outcome('MCEVAL_TEST_EXACT').timings, [
    // Its losses differ at the first round: not timed further, not kept though 30% faster.
    { value: 'no', msPerStep: 80 * 0.7, ratio: 0.7, sameLosses: false },
  ]);
  assert.equal(outcome('MCEVAL_TEST_EXACT').chosen, 'yes');
  // b within the margin of a, c against a (still the kept value).
  assert.deepEqual(
    outcome('MCEVAL_TEST_THREE').timings.map(({ value, ratio }) => [value, Math.round(ratio * 1000) / 1000]),
    [
      ['b', 0.99],
      ['c', 0.75],
    ],
  );
  assert.equal(result.defaultMsPerStep, 100);
  assert.equal(Math.round(result.tunedMsPerStep * 1e6) / 1e6, 100 * 0.8 * 0.75 * 0.9);
  // Rounds take turns: the kept value first, then the value; the value first in the second round.
  assert.deepEqual(calls.slice(1, 5), ['64,yes,a,off', '128,yes,a,off', '128,yes,a,off', '64,yes,a,off']);
  // AFTER_TILE was timed with the 128 tile and THREE=c kept.
  assert.ok(calls.includes('128,yes,c,on'));
  // The environment is as it was.
  for (const { variable } of SETTINGS) assert.equal(process.env[variable], undefined);
});

test('the sweep keeps every default where no value is faster by the margin', async () => {
  const result = await tuneSettings({
    settings: [{ variable: 'MCEVAL_TEST_THREE', values: ['a', 'b'] }],
    rounds: 2,
    margin: 0.03,
    measure: madeUpStep([]),
  });
  assert.deepEqual(result.chosen, {});
  assert.equal(result.ratio, 1);
});

test('values kept one by one are dropped when, timed together against the defaults, they are not faster', async () => {
  // The value is faster while it is timed against the default, slower when the kept values are checked (a drift).
  let calls = 0;
  const lines: string[] = [];
  const result = await tuneSettings({
    settings: [{ variable: 'MCEVAL_TEST_TILE', values: ['64', '128'] }],
    rounds: 1,
    margin: 0.03,
    measure: async () => {
      calls += 1;
      const value = process.env['MCEVAL_TEST_TILE'];
      return { msPerStep: value === '128' ? (calls <= 3 ? 80 : 120) : 100, losses: [1] };
    },
    log: (line) => lines.push(line),
  });
  assert.equal(calls, 5, 'the defaults, the value against the default, then both together');
  assert.deepEqual(result.chosen, {});
  assert.deepEqual(result.unconfirmed, { MCEVAL_TEST_TILE: '128' });
  assert.equal(result.ratio, 1.2);
  assert.deepEqual(lines, [
    "MCEVAL_TEST_TILE=128: 80.00 ms a step, 0.800× 64's: kept",
    'MCEVAL_TEST_TILE=128 against the defaults: 1.200×: not faster, none kept',
  ]);
});

const ADAPTER = { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200' };

test('the tuning file keeps each adapter entry, is read back, and names itself and the fix when it is wrong', () => {
  const root = mkdtempSync(join(tmpdir(), 'mceval-tuning-'));
  try {
    const path = join(root, 'cache', 'mceval', 'webgpu-tuning.json');
    assert.deepEqual(readTuningFile(path), {}, 'no file: no entries');
    const entry = (settings: Record<string, string>) => ({
      settings,
      tunedOn: { model: 'builtin:small', adapter: 'lora', batch: 8, length: 128 },
      date: '2026-12-07T00:00:00.000Z',
    });
    writeTunedEntry(path, adapterKey(ADAPTER), entry({ MCEVAL_WEBGPU_PRODUCT_TILE: '128' }));
    writeTunedEntry(path, 'lavapipe', entry({ MCEVAL_WEBGPU_GROUPS: 'never' }));
    writeTunedEntry(path, adapterKey(ADAPTER), entry({ MCEVAL_WEBGPU_ROPE: 'apart' }));
    assert.deepEqual(readTuningFile(path), {
      'nvidia | hopper | - | NVIDIA H200': entry({ MCEVAL_WEBGPU_ROPE: 'apart' }),
      lavapipe: entry({ MCEVAL_WEBGPU_GROUPS: 'never' }),
    });
    const refused = (text: string, problem: RegExp) => {
      writeFileSync(path, text);
      assert.throws(
        () => readTuningFile(path),
        (error: unknown) =>
          error instanceof UserError &&
          error.message.includes(path) &&
          problem.test(error.message) &&
          error.message.includes('run "mceval tune" again, delete the file, or set MCEVAL_WEBGPU_TUNING=off'),
      );
    };
    refused('{"format": 1, "adapters": {', /is not JSON/);
    refused('{"format": 2, "adapters": {}}', /is not a tuning file of format 1/);
    refused('{"format": 1, "adapters": {"x": {"settings": {"MCEVAL_WEBGPU_POOL": "keep"}}}}', /MCEVAL_WEBGPU_POOL/);
    refused('{"format": 1, "adapters": {"x": {"settings": {"MCEVAL_WEBGPU_PRODUCT_TILE": "96"}}}}', /TILE=96/);
    refused('{"format": 1, "adapters": {"x": {}}}', /no settings for adapter "x"/);
    assert.match(readFileSync(path, 'utf8'), /"x"/, 'a refused file is left as it is');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the tuning file is in the cache folder unless MCEVAL_WEBGPU_TUNING names another or is off', async () => {
  await withEnv('XDG_CACHE_HOME', '/tmp/cache-home', () =>
    withEnv('MCEVAL_WEBGPU_TUNING', undefined, () =>
      assert.equal(tuningPath(), '/tmp/cache-home/mceval/webgpu-tuning.json'),
    ),
  );
  await withEnv('MCEVAL_WEBGPU_TUNING', '/elsewhere/tuning.json', () =>
    assert.equal(tuningPath(), '/elsewhere/tuning.json'),
  );
  await withEnv('MCEVAL_WEBGPU_TUNING', 'off', () => assert.equal(tuningPath(), undefined));
});

test("every tuned value is one the engine's own check of its setting accepts, and each name one it checks", async () => {
  try {
    for (const { variable, values } of TUNABLE_SETTINGS) {
      for (const value of values) await withEnv(variable, value, () => checkEngineSettings());
      // A value outside the list is refused by name: the list names a setting the engine reads.
      await withEnv(variable, 'not-a-value', () =>
        assert.throws(
          () => checkEngineSettings(),
          (error: unknown) => error instanceof UserError && error.message.startsWith(`${variable}=not-a-value `),
        ),
      );
    }
  } finally {
    // The settings taken at reads, taken again as the environment is.
    checkEngineSettings();
  }
});
