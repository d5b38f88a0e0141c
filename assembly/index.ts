/** The WebAssembly kernels, one module: compiled by `npm run build` (see src/engine/kernels/wasm-kernels.ts). */
export { forward, backward } from './attention';
export { transposedProduct } from './products';
export { hashedKeepMask, hashedNormals } from './random';
export { normals, libmLog, libmCosine, libmSine } from './normal';
export { zigguratNormals } from './ziggurat';
