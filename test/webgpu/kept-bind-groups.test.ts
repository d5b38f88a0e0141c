/**
 * Bind groups kept by what they bind, with the pool's free buffers in a fixed order (engine/kept-bind-groups.ts), on
 * the device: from the third step of one shape on, a LoRA step (with dropout) and a MonteCLoRA step are recorded with
 * the very bind groups of the step before — none made anew — where tfjs's way (MCEVAL_WEBGPU_BIND_GROUPS=new) makes
 * every one anew with the same losses bit for bit, and their losses are those of wasm's steps (parity.test.ts checks
 * the kernels one by one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { monteCloraMethod } from '../../src/peft/monteclora/index.js';
import { parseMonteCloraConfig } from '../../src/peft/monteclora/config.js';
import { causalLmStep } from '../../src/train/synthetic-step.js';
import type { AdapterMethod } from '../../src/peft/types.js';
import { withEnv } from '../helpers.js';

const TARGETS = ['q_proj', 'v_proj', 'down_proj'];
const METHODS: readonly [string, AdapterMethod<never>, object][] = [
  [
    'LoRA',
    loraMethod as AdapterMethod<never>,
    parseLoraConfig({ r: 4, alpha: 8, dropout: 0.05, targetModules: TARGETS }, 't'),
  ],
  [
    'MonteCLoRA',
    monteCloraMethod as AdapterMethod<never>,
    parseMonteCloraConfig({ r: 4, alpha: 8, targetModules: TARGETS }, 't'),
  ],
];

interface GroupMaker {
  createBindGroup(descriptor: object): unknown;
}

/** Five steps on `backend`: their losses and, per step, the bind groups the device gave. */
async function steps(backend: 'webgpu' | 'wasm', method: AdapterMethod<never>, config: object) {
  await initEngine(backend);
  const { model } = loadModel('builtin:tiny');
  const device = backend === 'webgpu' ? (tf.backend() as unknown as { device: GroupMaker }).device : undefined;
  const create = device?.createBindGroup;
  let given = new Set<unknown>();
  if (device !== undefined)
    device.createBindGroup = (descriptor) => {
      const group = create!.call(device, descriptor);
      given.add(group);
      return group;
    };
  const run = causalLmStep(model, method, config as never, { batch: 2, length: 16, seed: 3 });
  try {
    const losses: number[] = [];
    const groups: Set<unknown>[] = [];
    for (let step = 0; step < 5; step++) {
      given = new Set();
      losses.push(await run.step());
      groups.push(given);
    }
    return { losses, groups };
  } finally {
    run.dispose();
    model.dispose();
    if (device !== undefined) device.createBindGroup = create!;
  }
}

for (const [name, method, config] of METHODS) {
  test(`${name}: from the third step on, each step binds with the groups of the step before`, async () => {
    const { losses, groups } = await steps('webgpu', method, config);
    for (let step = 2; step < groups.length; step++) {
      const made = [...groups[step]!].filter((group) => !groups[step - 1]!.has(group)).length;
      assert.ok(groups[step]!.size > 20, `step ${step}: ${groups[step]!.size} bind groups`);
      assert.equal(made, 0, `step ${step}: ${made} of ${groups[step]!.size} bind groups not in the step before`);
    }
    // tfjs's way (MCEVAL_WEBGPU_BIND_GROUPS=new): every group made anew, the same losses bit for bit.
    const made = await withEnv('MCEVAL_WEBGPU_BIND_GROUPS', 'new', () => steps('webgpu', method, config));
    assert.deepEqual(made.losses, losses);
    const last = made.groups.at(-1)!;
    assert.equal([...last].filter((group) => made.groups.at(-2)!.has(group)).length, 0);
    const wasm = await steps('wasm', method, config);
    losses.forEach((loss, step) =>
      assert.ok(
        Math.abs(loss - wasm.losses[step]!) <= 1e-5 * Math.abs(wasm.losses[step]!),
        `step ${step}: ${loss} against ${wasm.losses[step]}`,
      ),
    );
  });
}
