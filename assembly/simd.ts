/** SIMD helpers shared by the kernels. */

/**
 * a·b + c: fused where the machine has FMA and the module was built with relaxed SIMD, else multiply then add. (Small
 * enough that Binaryen's -O3 inlines it everywhere.)
 */
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

export function sum4(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}
