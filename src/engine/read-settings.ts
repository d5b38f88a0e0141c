/**
 * The engine settings read again at every read on webgpu (and as the engine starts), rather than at each call that
 * uses them, so that a benchmark can switch them between steps of one process: kept bind groups
 * (MCEVAL_WEBGPU_BIND_GROUPS), shared saved tensors (MCEVAL_SAVED_TENSORS) and packed uniforms
 * (MCEVAL_WEBGPU_UNIFORMS).
 */
import { applyBindGroupsSetting } from './kept-bind-groups.js';
import { applySavedTensorsSetting } from './saved-tensors.js';
import { applyUniformsSetting } from './packed-uniforms.js';

export function applyReadTimeSettings(): void {
  applyBindGroupsSetting();
  applySavedTensorsSetting();
  applyUniformsSetting();
}
