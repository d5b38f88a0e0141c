/**
 * The narrow product kernel (engine/kernels/webgpu/narrow-product.ts) through narrowProduct against the same op on wasm
 * (tfjs ops: the mask's multiplication, the product, the scale's): scale · (m ⊙ x)·W′ with W′ = W or Wᵀ, with and
 * without a dropout mask (made in the kernel on webgpu, by the host's loop on wasm), inner sizes that are multiples of
 * 4 (vec4 loads) and not, widths of 1 to 64 columns (one to sixteen groups of four accumulators, ragged last groups),
 * row counts off the kernel's 16-row workgroups. Agreement within 1e-5 of the largest value (float32 sums in another
 * order); the same bits on webgpu when run twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor2D } from '../../src/engine/tf.js';
import { narrowProduct } from '../../src/engine/ops/narrow-product.js';
import { NARROW_PRODUCT } from '../../src/engine/kernels/webgpu/narrow-product.js';
import { assertAgree } from './agreement.js';
import { valuesOn } from './values-on.js';
import { keepThreshold } from '../../src/engine/dropout-bits.js';
import { drawKey } from '../../src/engine/counter-hash.js';

interface Case {
  readonly rows: number;
  readonly inner: number;
  readonly columns: number;
  readonly transposeW: boolean;
  readonly mask: boolean;
  readonly scale: number;
}

const CASES: Case[] = [
  { rows: 7, inner: 37, columns: 5, transposeW: false, mask: true, scale: 1 },
  { rows: 130, inner: 64, columns: 8, transposeW: false, mask: true, scale: 1 },
  { rows: 33, inner: 96, columns: 8, transposeW: true, mask: false, scale: 1.75 },
  { rows: 260, inner: 45, columns: 3, transposeW: true, mask: false, scale: 0.5 },
  { rows: 17, inner: 768, columns: 64, transposeW: false, mask: true, scale: 2 },
  { rows: 50, inner: 132, columns: 1, transposeW: true, mask: true, scale: 1 },
];

function* products(c: Case, calls: number) {
  const rng = new Rng(13);
  const x = tf.tensor2d(rng.normalArray(c.rows * c.inner), [c.rows, c.inner]);
  const shape: [number, number] = c.transposeW ? [c.columns, c.inner] : [c.inner, c.columns];
  const w = tf.tensor2d(rng.normalArray(c.columns * c.inner), shape);
  const hash = { key: drawKey(rng.nextUint32()), threshold: keepThreshold(0.8), scale: 1 / 0.8 };
  const dropout = c.mask ? { hash } : undefined;
  const options = { transposeW: c.transposeW, scale: c.scale, dropout };
  for (let call = 0; call < calls; call++) yield narrowProduct(x as Tensor2D, w as Tensor2D, options);
  tf.dispose([x, w]);
}

for (const c of CASES) {
  const name = `${c.rows} × ${c.inner} → ${c.columns}${c.transposeW ? ', Wᵀ' : ''}${c.mask ? ', mask' : ''}, s ${c.scale}`;
  test(`webgpu narrow product agrees with wasm: ${name}`, async () => {
    const [expected] = await valuesOn('wasm', NARROW_PRODUCT, () => products(c, 1));
    const [first, again] = await valuesOn('webgpu', NARROW_PRODUCT, () => products(c, 2));
    assertAgree('product', Array.from(first!), Array.from(expected!), 1e-5);
    assert.deepEqual(again, first, 'the same bits the second time');
  });
}
