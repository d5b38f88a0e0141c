/**
 * WGSL for attention's shaders (attention-wgsl.ts) reading queries and keys before RoPE: they rotate each vector as
 * they load it, and turn the gradients they write back from the rotated vectors to the unrotated ones, so that RoPE
 * and its gradient are no dispatches of their own (a decoder layer's training step took two, McevalRope's). The
 * arithmetic is McevalRope's (rope.ts), element for element, so the values are its: x·cos + rotate_half(x)·sin, and
 * for a gradient g the gradient g·cos + (g[i + h]·sin[i + h] below h, −g[i − h]·sin[i − h] above), h = dh / 2.
 *
 * The tables come as one binding, `turns` (vec4): each position's cos then sin ([positions, 2, dh]), a position being
 * batch row b and index t of the sequence, b·T + t — queries and keys alike, so only self-attention without a past.
 * A head's two halves are whole vectors (dh a multiple of 8). A lane's slice of a row lies in one half; the vector
 * paired with its d-th lies in the lane LANES / 2 away at the same d (one shuffle), or in its own slice with one lane.
 *
 * Without RoPE the same functions read the vector as it is and hand the gradient back unchanged.
 */

/** `queryVector`, `keyVector` (a vector at offset o, index v of its head, of position p) and `unrotatedGradient`. */
export function attentionRopeCode(rope: boolean, lanes: number): string {
  return rope ? rotatingCode(lanes) : plainCode;
}

const plainCode = `
fn queryVector(o : i32, v : i32, p : i32) -> vec4<f32> {
  return q[o];
}

fn keyVector(o : i32, v : i32, p : i32) -> vec4<f32> {
  return k[o];
}

fn unrotatedGradient(g : array<vec4<f32>, SLICE>, slice : i32, p : i32) -> array<vec4<f32>, SLICE> {
  return g;
}
`;

/** Vector v of x at offset o rotated by position p's tables. */
function rotated(name: string, x: string): string {
  return `
fn ${name}(o : i32, v : i32, p : i32) -> vec4<f32> {
  let c = p * 2 * DH4 + v;
  var turned = vec4<f32>(0.0);
  if (v < HALF4) {
    turned = -${x}[o + HALF4] * turns[c + DH4];
  } else {
    turned = ${x}[o - HALF4] * turns[c + DH4];
  }
  return ${x}[o] * turns[c] + turned;
}
`;
}

function rotatingCode(lanes: number): string {
  // The gradient's vector paired with slice element d: a partner lane's (the butterfly's last step) or its own.
  const partner = lanes === 1 ? 'g[(d + HALF4) % DH4]' : `subgroupShuffleXor(g[d], ${lanes / 2}u)`;
  return `
// Vectors in half a head: element i < dh / 2 turns with element i + dh / 2.
const HALF4 = DH4 / 2;
${rotated('queryVector', 'q')}${rotated('keyVector', 'k')}
// The lane's slice of the gradient with respect to the vectors before RoPE, from g, the gradient with respect to the
// rotated ones. Called by every invocation, in uniform control flow (a shuffle).
fn unrotatedGradient(g : array<vec4<f32>, SLICE>, slice : i32, p : i32) -> array<vec4<f32>, SLICE> {
  var result : array<vec4<f32>, SLICE>;
  for (var d = 0; d < SLICE; d++) {
    let paired = ${partner};
    let v = slice + d;
    let c = p * 2 * DH4 + v;
    var turned = vec4<f32>(0.0);
    if (v < HALF4) {
      turned = paired * turns[c + DH4 + HALF4];
    } else {
      turned = -paired * turns[c + DH4 - HALF4];
    }
    result[d] = g[d] * turns[c] + turned;
  }
  return result;
}
`;
}
