/**
 * The engine settings read again at every read on webgpu (and as the engine starts), rather than at each call that
 * uses them, so that a benchmark can switch them between steps of one process: kept bind groups
 * (MCEVAL_WEBGPU_BIND_GROUPS) and shared saved tensors (MCEVAL_SAVED_TENSORS).
 */
import { applyBindGroupsSetting } from './kept-bind-groups.js';
import { applySavedTensorsSetting } from './saved-tensors.js';

export function applyReadTimeSettings(): void {
  applyBindGroupsSetting();
  applySavedTensorsSetting();
}
