/**
 * kept-bind-groups.ts on fakes: a device gives the bind group it made before for the same layout and the same buffers,
 * offsets and sizes at the same bindings, and a new one where any of them differs; groups binding anything but
 * buffers are never kept; past the most kept, all are dropped. A pool whose free lists are ordered hands out the same
 * buffers whatever order they were freed in. The webgpu suite (test/webgpu/kept-bind-groups.test.ts) runs steps over
 * Dawn's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyBindGroupsSetting,
  bindGroupsSetting,
  keepBindGroups,
  orderFreeBuffers,
} from '../src/engine/kept-bind-groups.js';
import { FakePool, STORAGE, type FakeBuffer } from './fake-buffer-pool.js';
import { withEnv } from './helpers.js';
import { Rng } from '../src/engine/rng.js';

interface Entry {
  readonly binding: number;
  readonly resource: unknown;
}

function fakeDevice() {
  let made = 0;
  return {
    made: () => made,
    createBindGroup(descriptor: { readonly layout: object; readonly entries: Iterable<Entry> }): unknown {
      made++;
      return { made, layout: descriptor.layout };
    },
  };
}

const [layout, otherLayout] = [{}, {}];
const [a, b, c] = [{}, {}, {}];
/** A new descriptor each time, as tfjs makes one at every dispatch. */
const bind = (buffers: readonly object[], on = layout, size = 64, offset = 0) => ({
  layout: on,
  entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer, offset, size } })),
});

test('the same layout and bindings give the group made before; any difference makes a new one', () => {
  const device = fakeDevice();
  keepBindGroups(device);
  const first = device.createBindGroup(bind([a, b]));
  assert.equal(device.createBindGroup(bind([a, b])), first);
  assert.equal(device.made(), 1);
  const differing = [
    bind([b, a]),
    bind([a, c]),
    bind([a, b], otherLayout),
    bind([a, b], layout, 32),
    bind([a, b], layout, 64, 256),
    bind([a]),
    {
      layout,
      entries: [
        { binding: 0, resource: { buffer: a, offset: 0, size: 64 } },
        { binding: 2, resource: { buffer: b, offset: 0, size: 64 } },
      ],
    },
  ];
  const groups = differing.map((descriptor) => device.createBindGroup(descriptor));
  assert.equal(new Set([first, ...groups]).size, differing.length + 1);
  assert.equal(device.made(), differing.length + 1);
  // Each is kept in turn.
  differing.forEach((descriptor, i) => assert.equal(device.createBindGroup(descriptor), groups[i]));
  assert.equal(device.made(), differing.length + 1);
});

test('a group binding anything but buffers is made every time', () => {
  const device = fakeDevice();
  keepBindGroups(device);
  const texture = { binding: 0, resource: { label: 'a texture view' } };
  const first = device.createBindGroup({ layout, entries: [texture] });
  assert.notEqual(device.createBindGroup({ layout, entries: [texture] }), first);
  assert.equal(device.made(), 2);
});

test('past the most kept, the kept groups are dropped and made again when asked for', () => {
  const device = fakeDevice();
  keepBindGroups(device, 2);
  const first = device.createBindGroup(bind([a]));
  device.createBindGroup(bind([b]));
  assert.equal(device.createBindGroup(bind([a])), first);
  device.createBindGroup(bind([c]));
  assert.equal(device.made(), 3);
  assert.notEqual(device.createBindGroup(bind([a])), first);
  assert.equal(device.made(), 4);
});

/** `held` (buffers of 64 bytes) freed in `order`; the buffers as many acquisitions then give. */
function afterFreeing(pool: FakePool, held: readonly FakeBuffer[], order: readonly number[]): FakeBuffer[] {
  order.forEach((i) => pool.releaseBuffer(held[i]!));
  return held.map(() => pool.acquireBuffer(64, STORAGE));
}

test('an ordered pool hands out the same buffers whatever order they were freed in', () => {
  const pool = new FakePool();
  orderFreeBuffers(pool);
  const held = Array.from({ length: 4 }, () => pool.acquireBuffer(64, STORAGE));
  const once = afterFreeing(pool, held, [0, 1, 2, 3]);
  for (const order of [
    [3, 2, 1, 0],
    [2, 0, 3, 1],
    [1, 3, 0, 2],
  ]) {
    const again = afterFreeing(pool, once, order);
    assert.deepEqual(again, once, `freed in the order ${order.join(', ')}`);
  }
  // The order is the one buffers were first seen in: the first freed first handed out.
  assert.deepEqual(once, held);
  // tfjs's own pool, unordered, hands them out in the reverse of their freeing.
  const plain = new FakePool();
  const plainHeld = Array.from({ length: 4 }, () => plain.acquireBuffer(64, STORAGE));
  assert.deepEqual(
    afterFreeing(plain, plainHeld, [2, 0, 3, 1]),
    [1, 3, 0, 2].map((i) => plainHeld[i]),
  );
});

test('an ordered pool of many buffers hands them out in the order first seen, after frees in any order', () => {
  // A step frees a hundred uniform buffers of a size at a submit: each goes to its place by a binary search.
  const rng = new Rng(3);
  for (const count of [2, 3, 8, 33, 100]) {
    const pool = new FakePool();
    orderFreeBuffers(pool);
    // Freed once in order, so that each buffer is first seen in its place in `held`.
    const held = afterFreeing(
      pool,
      Array.from({ length: count }, () => pool.acquireBuffer(64, STORAGE)),
      Array.from({ length: count }, (_, i) => i),
    );
    for (let round = 0; round < 4; round++) {
      const order = rng.permutation(count);
      // Half freed, half of those taken again, then the rest freed: the lists are placed into while they hold some.
      const half = order.slice(0, count >> 1);
      half.forEach((i) => pool.releaseBuffer(held[i]!));
      const retaken = half.slice(0, half.length >> 1).map(() => pool.acquireBuffer(64, STORAGE));
      const firstSeen = [...half].sort((x, y) => x - y);
      assert.deepEqual(
        retaken,
        firstSeen.slice(0, retaken.length).map((i) => held[i]),
        `${count}: first seen first`,
      );
      retaken.forEach((buffer) => pool.releaseBuffer(buffer));
      order.slice(count >> 1).forEach((i) => pool.releaseBuffer(held[i]!));
      const again = held.map(() => pool.acquireBuffer(64, STORAGE));
      assert.deepEqual(again, held, `${count} buffers freed in the order ${order.join(', ')}`);
    }
  }
});

test('MCEVAL_WEBGPU_BIND_GROUPS: kept unset, new, and one line for a bad value', async () => {
  await withEnv('MCEVAL_WEBGPU_BIND_GROUPS', undefined, async () => assert.equal(bindGroupsSetting(), 'kept'));
  await withEnv('MCEVAL_WEBGPU_BIND_GROUPS', 'new', async () => assert.equal(bindGroupsSetting(), 'new'));
  await withEnv('MCEVAL_WEBGPU_BIND_GROUPS', 'cached', async () =>
    assert.throws(
      () => bindGroupsSetting(),
      /^UserError: MCEVAL_WEBGPU_BIND_GROUPS=cached is not a choice mceval has: use kept or new, or unset it\.$/,
    ),
  );
});

test("under MCEVAL_WEBGPU_BIND_GROUPS=new, once applied, groups are made every time and the pool keeps tfjs's order", async () => {
  const device = fakeDevice();
  keepBindGroups(device);
  const pool = new FakePool();
  orderFreeBuffers(pool);
  const held = Array.from({ length: 3 }, () => pool.acquireBuffer(64, STORAGE));
  try {
    await withEnv('MCEVAL_WEBGPU_BIND_GROUPS', 'new', async () => applyBindGroupsSetting());
    assert.notEqual(device.createBindGroup(bind([a])), device.createBindGroup(bind([a])));
    assert.deepEqual(
      afterFreeing(pool, held, [2, 0, 1]),
      [1, 0, 2].map((i) => held[i]),
    );
  } finally {
    applyBindGroupsSetting();
  }
  assert.equal(device.createBindGroup(bind([a])), device.createBindGroup(bind([a])));
});
