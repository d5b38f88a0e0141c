/**
 * Two of tfjs-webgpu's own settings that bench/gpu times on a GPU, as mceval settings: tfjs reads its flags from a
 * browser page's URL, which Node has not, so without these a user could not apply what the kit measured.
 *  - MCEVAL_WEBGPU_SUBMIT_BATCH: dispatches recorded before the queue is submitted (tfjs's
 *    WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE), 60 unless set where tfjs's own is 15. A step is hundreds of dispatches, and
 *    each submit costs the host its command buffer's finish and submit: on the H200 a LoRA step took 108.2 ms at 60
 *    against 126.7 at 15 and 133.5 at 240 (one run each; a later submit leaves the GPU idle longer), and here on
 *    lavapipe 60 records a stories260K step in 0.9–1.5 ms less of the main thread's time than 15 (docs/gpu.md).
 *  - MCEVAL_WEBGPU_MATMUL_THRESHOLD: the count of 32 × 32 output tiles at or under which tfjs's matMul takes its
 *    programs for too few workgroups (WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL; unset, tfjs's own by GPU:
 *    8 on most, more on newer Intel ones). Only the products tfjs still runs read it (an LM head at few targets).
 * Both are read as the engine starts, so that a bad value stops a run before its store exists, and set on tfjs's
 * environment once the webgpu backend, which registers the flags, is chosen.
 */
import { tf } from '../../tf.js';
import { UserError } from '../../../errors.js';

interface TfjsFlagSetting {
  readonly variable: string;
  readonly flag: string;
  /** What the count counts, for the error line. */
  readonly counts: string;
  /** mceval's value where the variable is unset; absent: tfjs's own. */
  readonly unset?: number;
}

export const SUBMIT_BATCH: TfjsFlagSetting = {
  variable: 'MCEVAL_WEBGPU_SUBMIT_BATCH',
  flag: 'WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE',
  counts: 'dispatches per submit',
  unset: 60,
};

export const MATMUL_THRESHOLD: TfjsFlagSetting = {
  variable: 'MCEVAL_WEBGPU_MATMUL_THRESHOLD',
  flag: 'WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL',
  counts: 'output tiles',
};

const SETTINGS = [SUBMIT_BATCH, MATMUL_THRESHOLD];

/** The setting's value, checked: a whole number from 1, or undefined (tfjs's own) where it is unset. */
export function tfjsFlagSetting(setting: TfjsFlagSetting, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env[setting.variable];
  if (text === undefined || text === '') return undefined;
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new UserError(
      `${setting.variable}=${text} is not a count of ${setting.counts}: use a whole number from 1, or unset it.`,
    );
  }
  return value;
}

/** Checks both settings (the engine's start, before a backend is chosen). */
export function checkTfjsFlagSettings(env: NodeJS.ProcessEnv = process.env): void {
  for (const setting of SETTINGS) tfjsFlagSetting(setting, env);
}

/**
 * Sets tfjs's flags from the settings, or mceval's value for one unset; the webgpu backend must have been imported (it
 * registers them).
 */
export function applyTfjsFlagSettings(env: NodeJS.ProcessEnv = process.env): void {
  for (const setting of SETTINGS) {
    const value = tfjsFlagSetting(setting, env) ?? setting.unset;
    if (value !== undefined) tf.env().set(setting.flag, value);
  }
}

/** The values in effect on webgpu, for doctor: each setting's, else tfjs's (the threshold's −1 means by GPU). */
export function tfjsFlagValues(): { submitBatch: number; matmulThreshold: number | 'by GPU' } {
  const threshold = tf.env().getNumber(MATMUL_THRESHOLD.flag);
  return {
    submitBatch: tf.env().getNumber(SUBMIT_BATCH.flag),
    matmulThreshold: threshold > 0 ? threshold : 'by GPU',
  };
}
