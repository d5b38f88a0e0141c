/**
 * The flags mceval opens Dawn with (npm `webgpu`'s create(flags), `name=value` each). Dawn's toggles go in one flag,
 * `enable-dawn-features=a,b,…`, which Dawn applies to the instance, the adapter and the device: mceval's own —
 * `allow_unsafe_apis` always (subgroup-matrix is behind it), `disable_robustness` under MCEVAL_WEBGPU_ROBUSTNESS=off —
 * and any the user names in MCEVAL_DAWN_FLAGS are joined into that one flag, as Dawn keeps one value per flag name
 * (a second `enable-dawn-features` would replace mceval's).
 *
 * MCEVAL_WEBGPU_ROBUSTNESS: `on` (Dawn's default) or `off`. WebGPU requires every array access in a shader to stay in
 * bounds whatever the indices; Dawn's shader compiler clamps each index it cannot prove in bounds, workgroup arrays
 * included, so a tiled product's inner loop does an integer clamp per operand read from its tiles. `off` leaves the
 * clamps out (Dawn's `disable_robustness`, which ONNX Runtime's native WebGPU provider sets in its release builds): a
 * shader that reads out of bounds then reads what the driver gives there, and one that writes out of bounds may write
 * another buffer. mceval's kernels check their indices themselves; the WebGPU suite runs under `off` as well. Read when
 * the device is opened (once per process) and as the engine starts.
 */
import { environmentChoice } from './environment-choice.js';

export function robustnessSetting(): 'on' | 'off' {
  return environmentChoice('MCEVAL_WEBGPU_ROBUSTNESS', ['on', 'off']);
}

const TOGGLES = 'enable-dawn-features';

/**
 * MCEVAL_DAWN_FLAGS' value as flags: comma-separated `name=value` items, where an item without `=` continues the value
 * of the flag before it (`enable-dawn-features=a,b`).
 */
export function parseDawnFlags(setting: string): string[] {
  const flags: string[] = [];
  for (const item of setting.split(',').filter((part) => part !== '')) {
    if (item.includes('=') || flags.length === 0) flags.push(item);
    else flags[flags.length - 1] += `,${item}`;
  }
  return flags;
}

/** The flags to create Dawn's instance with: the user's, with mceval's toggles joined to theirs. */
export function dawnFlags(setting: string, robustness: 'on' | 'off'): string[] {
  const flags = parseDawnFlags(setting);
  const toggles = ['allow_unsafe_apis', ...(robustness === 'off' ? ['disable_robustness'] : [])];
  for (const flag of flags.filter((item) => item.startsWith(`${TOGGLES}=`)))
    toggles.push(...flag.slice(TOGGLES.length + 1).split(','));
  const unique = [...new Set(toggles.filter((toggle) => toggle !== ''))];
  return [`${TOGGLES}=${unique.join(',')}`, ...flags.filter((item) => !item.startsWith(`${TOGGLES}=`))];
}
