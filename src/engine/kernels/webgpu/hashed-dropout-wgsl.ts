/**
 * WGSL of engine/dropout-bits.ts: an inverted-dropout mask's element made where a shader reads it, from the mask's key,
 * threshold and scale (uniforms), instead of a mask tensor made by a dispatch of its own, bound, and kept for the
 * backward pass. Element i is `scale` when triple32(triple32(i) ^ key) < threshold, else 0: the same bits as the
 * host's mask (random-wasm.ts) and the device's (dropout-mask.ts).
 */
import type { HashedDropout } from '../../dropout-bits.js';
import { TRIPLE32_WGSL } from './counter-hash-wgsl.js';
import { floatUniform, intUniform, type ShaderUniform } from './shader.js';

/**
 * `hashedKeep(index, key, threshold, scale)`, and `hashedKeep4` for elements index … index + 3. The key and threshold
 * are u32 passed as i32 bit patterns; the index wraps at 2³² as the host's does.
 */
export const HASHED_KEEP_WGSL = `${TRIPLE32_WGSL}
fn hashedKeep(index : u32, key : i32, threshold : i32, scale : f32) -> f32 {
  let bits = triple32(triple32(index) ^ bitcast<u32>(key));
  return select(0.0, scale, bits < bitcast<u32>(threshold));
}

fn hashedKeep4(index : u32, key : i32, threshold : i32, scale : f32) -> vec4<f32> {
  return vec4<f32>(
    hashedKeep(index, key, threshold, scale),
    hashedKeep(index + 1u, key, threshold, scale),
    hashedKeep(index + 2u, key, threshold, scale),
    hashedKeep(index + 3u, key, threshold, scale),
  );
}
`;

/** The uniform fields of a mask named `name`: its key, threshold and scale. */
export const dropoutUniforms = (name: string): string =>
  `${name}Key : i32, ${name}Threshold : i32, ${name}Scale : f32,`;

/** The values of dropoutUniforms' fields for each dropout given, in order (none for an undefined one). */
export function dropoutUniformValues(...dropouts: readonly (HashedDropout | undefined)[]): ShaderUniform[] {
  return dropouts.flatMap((dropout): ShaderUniform[] =>
    dropout === undefined
      ? []
      : [intUniform(dropout.key | 0), intUniform(dropout.threshold | 0), floatUniform(dropout.scale)],
  );
}

/** The arguments after the index that read mask `name`'s fields from the uniforms (or from variables so named). */
export const dropoutArguments = (name: string, from = 'uniforms.'): string =>
  `${from}${name}Key, ${from}${name}Threshold, ${from}${name}Scale`;

/** WGSL: element `index` (an i32 expression) of mask `name`, an f32. */
export const dropoutAt = (name: string, index: string, from?: string): string =>
  `hashedKeep(u32(${index}), ${dropoutArguments(name, from)})`;

/** WGSL: elements `index` … `index` + 3 of mask `name`, a vec4<f32>. */
export const dropoutAt4 = (name: string, index: string, from?: string): string =>
  `hashedKeep4(u32(${index}), ${dropoutArguments(name, from)})`;
