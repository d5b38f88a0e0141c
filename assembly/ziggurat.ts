/**
 * Standard normal draws by the ziggurat method (Marsaglia & Tsang 2000, with Doornik's 2005 ZIGNOR layout: 128
 * layers, the layer chosen by a draw of its own), from mceval's xoshiro128** generator. About 99% of values cost two
 * draws, a comparison and a product — 4–5 ns, against ~20 for Box–Muller's logarithm, sine and cosine — so
 * MonteCLoRA's noise (N·d_in·r values per layer and step) uses it. A different stream from Rng.normal().
 */

import { draws } from './random';

const LAYERS = 128;
/** The start of the tail and the area of each layer, for 128 layers (Marsaglia & Tsang 2000). */
const TAIL = 3.442619855899;
const AREA = 9.91256303526217e-3;

/** x_i, the layers' right edges (x_0 the base strip's equivalent width), and x_{i+1}/x_i. */
const EDGES = memory.data(8 * (LAYERS + 1));
const RATIOS = memory.data(8 * LAYERS);
let tabulated = false;

function tabulate(): void {
  let f = Math.exp(-0.5 * TAIL * TAIL);
  store<f64>(EDGES, AREA / f);
  store<f64>(EDGES, TAIL, 8);
  store<f64>(EDGES, 0, 8 * LAYERS);
  for (let i = 2; i < LAYERS; i++) {
    const edge = Math.sqrt(-2 * Math.log(AREA / load<f64>(EDGES + 8 * (i - 1)) + f));
    store<f64>(EDGES + 8 * i, edge);
    f = Math.exp(-0.5 * edge * edge);
  }
  for (let i = 0; i < LAYERS; i++) {
    store<f64>(RATIOS + 8 * i, load<f64>(EDGES + 8 * (i + 1)) / load<f64>(EDGES + 8 * i));
  }
  tabulated = true;
}

/** The generator's state (four u32) while zigguratNormals runs, for the rare draws beyond each value's two. */
let generator: usize = 0;
const EXTRA = memory.data(4);

/** One more draw of the generator, after every draw made so far. */
function next(): u32 {
  draws(EXTRA, 1, generator);
  return load<u32>(EXTRA);
}

/** Uniform on (0, 1), never 0 (the tail takes its logarithm). Scaled by a product: 2⁻³² is exact, a division slow. */
function open(): f64 {
  return (<f64>next() + 0.5) * 2.3283064365386963e-10;
}

/** A draw beyond the tail's start (Marsaglia 1964), on the side `negative` says. */
function tail(negative: bool): f64 {
  let x: f64, y: f64;
  do {
    x = Math.log(open()) / TAIL;
    y = Math.log(open());
  } while (-2 * y < x * x);
  return negative ? x - TAIL : TAIL - x;
}

/** The rest of a draw whose first try fell outside its layer's rectangle: the wedge or the tail, then new tries. */
function slowDraw(u: f64, layer: usize): f64 {
  while (true) {
    const edge = load<f64>(EDGES + 8 * layer);
    if (abs<f64>(u) < load<f64>(RATIOS + 8 * layer)) return u * edge;
    if (layer == 0) return tail(u < 0);
    // The wedge between the layer's rectangle and the density: accept under the curve.
    const x = u * edge;
    const inner = load<f64>(EDGES + 8 * (layer + 1));
    const f0 = Math.exp(-0.5 * (edge * edge - x * x));
    const f1 = Math.exp(-0.5 * (inner * inner - x * x));
    if (f1 + open() * (f0 - f1) < 1.0) return x;
    u = signed(next());
    layer = <usize>(next() & (LAYERS - 1));
  }
  return unreachable();
}

/** Uniform on (−1, 1): a draw read as a signed integer, centred and scaled by 2⁻³¹. */
function signed(draw: u32): f64 {
  return (<f64>(<i32>draw) + 0.5) * 4.656612873077393e-10;
}

/**
 * `count` standard normals as f32 into `out`; `scratch` has room for 2·count u32. The generator (four u32 at `state`)
 * first fills `scratch` with two draws per value — a uniform and a layer — and the few values that fall outside their
 * layer's rectangle draw what more they need after those, one at a time.
 */
export function zigguratNormals(out: usize, count: i32, state: usize, scratch: usize): void {
  if (!tabulated) tabulate();
  draws(scratch, 2 * count, state);
  generator = state;
  for (let i = 0; i < count; i++) {
    const at = scratch + ((<usize>i) << 3);
    const u = signed(load<u32>(at));
    const layer = <usize>(load<u32>(at, 4) & (LAYERS - 1));
    let value = u * load<f64>(EDGES + 8 * layer);
    if (abs<f64>(u) >= load<f64>(RATIOS + 8 * layer)) value = slowDraw(u, layer);
    store<f32>(out + ((<usize>i) << 2), <f32>value);
  }
}
