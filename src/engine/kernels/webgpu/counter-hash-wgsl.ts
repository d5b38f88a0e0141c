/** WGSL of engine/counter-hash.ts: triple32, for the kernels that draw from counter-based bits. */
export const TRIPLE32_WGSL = `
fn triple32(value : u32) -> u32 {
  var x = value ^ (value >> 17u);
  x *= 0xed5ad4bbu;
  x ^= x >> 11u;
  x *= 0xac4c1b51u;
  x ^= x >> 15u;
  x *= 0x31848babu;
  return x ^ (x >> 14u);
}
`;
