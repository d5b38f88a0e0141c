import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gridPoints, parseGridFlags } from '../src/sweep/grid.js';

const defaults = { lr: [1e-3, 3e-3, 1e-2], bs: [16, 32] };

test('no --grid keeps the preset grid: 3 × 2 points, learning rate major', () => {
  const grid = parseGridFlags([], defaults);
  assert.deepEqual(grid, defaults);
  assert.deepEqual(gridPoints(grid).slice(0, 3), [
    { lr: 1e-3, bs: 16 },
    { lr: 1e-3, bs: 32 },
    { lr: 3e-3, bs: 16 },
  ]);
  assert.equal(gridPoints(grid).length, 6);
});

test('--grid overrides one parameter at a time; repeats accumulate', () => {
  assert.deepEqual(parseGridFlags(['lr=1e-4, 3e-4'], defaults), { lr: [1e-4, 3e-4], bs: [16, 32] });
  assert.deepEqual(parseGridFlags(['bs=8', 'bs=4,8'], defaults), { lr: defaults.lr, bs: [8, 4] });
});

test('malformed --grid values show the expected syntax', () => {
  for (const bad of ['lr', 'lr=', 'lr=1e-3,', 'momentum=0.9', 'bs=1.5', 'lr=-1', 'lr=abc']) {
    assert.throws(
      () => parseGridFlags([bad], defaults),
      /Malformed --grid .*expected NAME=V1,V2,\.\.\. with NAME lr or bs/,
      bad,
    );
  }
});
