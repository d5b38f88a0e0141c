/**
 * Bulk draws of mceval's generator (src/engine/rng.ts: xoshiro128**, whose single draws stay in JavaScript): a
 * training step draws millions of dropout decisions. The generator's state is four u32 at `state`, read at the start
 * and written back at the end, so that JavaScript's Rng continues exactly where these draws stopped.
 */

/** The next `count` draws, as u32, into `out`. */
export function draws(out: usize, count: i32, state: usize): void {
  let s0 = load<u32>(state);
  let s1 = load<u32>(state, 4);
  let s2 = load<u32>(state, 8);
  let s3 = load<u32>(state, 12);
  for (let i = 0; i < count; i++) {
    store<u32>(out + ((<usize>i) << 2), rotl<u32>(s1 * 5, 7) * 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl<u32>(s3, 11);
  }
  store<u32>(state, s0);
  store<u32>(state, s1, 4);
  store<u32>(state, s2, 8);
  store<u32>(state, s3, 12);
}

/**
 * out[i] = value where draw i < threshold, else 0, for the next `count` draws: an inverted-dropout mask, with
 * threshold = ⌈keep·2³²⌉ (draw < keep·2³² ⇔ uniform() < keep). The draws are written first, then replaced in place.
 */
export function keepMask(out: usize, count: i32, state: usize, threshold: u32, value: f32): void {
  draws(out, count, state);
  const limit = i32x4.splat(threshold);
  const kept = f32x4.splat(value);
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const at = out + ((<usize>i) << 2);
    v128.store(at, v128.and(i32x4.lt_u(v128.load(at), limit), kept));
  }
  for (; i < count; i++) {
    const at = out + ((<usize>i) << 2);
    store<f32>(at, load<u32>(at) < threshold ? value : 0);
  }
}
