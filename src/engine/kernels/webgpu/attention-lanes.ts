/**
 * How many invocations share an attention row (or key) on webgpu — attention-wgsl.ts's lanes. Set by
 * MCEVAL_WEBGPU_ATTENTION_LANES (1, 2, 4, 8, 16 or 32) or, unset, chosen per head size: the fewest lanes that leave
 * each at most 32 floats of every per-row array (dh 64 → 2, dh 128 → 4), so that a row's state fits a GPU
 * invocation's registers; where the adapter has no subgroups, one lane. Lanes are always a power of two that divides
 * dh / 4 and the adapter's smallest subgroup (a row's lanes must share a subgroup); a setting is lowered to fit.
 */
import { UserError } from '../../../errors.js';
import type { WebGpuAdapterReport } from '../../webgpu.js';

const SETTING = 'MCEVAL_WEBGPU_ATTENTION_LANES';
const ALLOWED = [1, 2, 4, 8, 16, 32];

/** Vectors (of 4 floats) of a head one lane holds at most, when lanes are chosen by head size. */
const MOST_VECTORS_PER_LANE = 8;

export type LaneSetting = number | 'auto';

/** The setting, checked: a bad value stops a run with one line (read as the engine starts too). */
export function attentionLaneSetting(): LaneSetting {
  const setting = process.env[SETTING];
  if (setting === undefined || setting === '' || setting === 'auto') return 'auto';
  const lanes = Number(setting);
  if (!ALLOWED.includes(lanes)) {
    throw new UserError(`${SETTING}=${setting} is not a lane count mceval has: use ${ALLOWED.join(', ')} or unset it.`);
  }
  return lanes;
}

/** The adapter's smallest subgroup, or 1 where it has no subgroups (WebGPU's minimum is 4 when it does not say). */
export function subgroupFloor(report: WebGpuAdapterReport | undefined): number {
  if (report === undefined || !report.features.subgroups) return 1;
  return report.subgroupSizes?.min ?? 4;
}

/** Lanes per row for a head of 4·dh4 floats, under `setting`, on an adapter whose subgroups hold `floor` or more. */
export function attentionLanes(dh4: number, floor: number, setting: LaneSetting): number {
  let wanted = setting;
  if (wanted === 'auto') {
    wanted = 1;
    while (dh4 / wanted > MOST_VECTORS_PER_LANE) wanted *= 2;
  }
  let lanes = 1;
  while (lanes * 2 <= Math.min(wanted, floor) && dh4 % (lanes * 2) === 0) lanes *= 2;
  return lanes;
}

/** Stops a run, as the engine starts, whose setting asks for more lanes than the adapter's subgroups hold. */
export function checkAttentionLanes(report: WebGpuAdapterReport | undefined): void {
  const setting = attentionLaneSetting();
  const floor = subgroupFloor(report);
  if (setting === 'auto' || setting <= floor) return;
  throw new UserError(
    floor === 1
      ? `${SETTING}=${setting} needs WebGPU subgroups, which this adapter does not offer: unset it (one lane per row).`
      : `${SETTING}=${setting} is more than this adapter's smallest subgroup (${floor}): use ${floor} or fewer, or ` +
          'unset it.',
  );
}
