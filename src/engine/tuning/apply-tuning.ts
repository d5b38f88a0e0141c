/**
 * The tuning file's values for the adapter the engine opened, set in this process's environment where the environment
 * does not set them (the environment comes first), once per process: every setting is read from the environment, at
 * each call, so the values reach every kernel (and the worker threads and jobs a run starts) as a user's would.
 */
import { setByUser } from './tunable-settings.js';
import { adapterKey, readTuningFile, tuningPath, type AdapterIdentity } from './tuning-file.js';

/** What the engine took from the tuning file as it opened the adapter (doctor reports it). */
export interface AppliedTuning {
  readonly file: string | undefined;
  /** The values set from the file. */
  readonly applied: Readonly<Record<string, string>>;
  /** Values the file has that the environment overrides. */
  readonly overridden: readonly string[];
  /** Whether the file has an entry for this adapter. */
  readonly found: boolean;
}

function applyTuning(adapter: AdapterIdentity): AppliedTuning {
  const file = tuningPath();
  const entry = file === undefined ? undefined : readTuningFile(file)[adapterKey(adapter)];
  const set: Record<string, string> = {};
  const overridden: string[] = [];
  for (const [variable, value] of Object.entries(entry?.settings ?? {})) {
    if (setByUser(variable)) {
      overridden.push(variable);
      continue;
    }
    process.env[variable] = value;
    set[variable] = value;
  }
  return { file, applied: set, overridden, found: entry !== undefined };
}

let applied: AppliedTuning | undefined;

/**
 * Applies the tuning file for `adapter` the first time it is called in the process; what it applied. The caller checks
 * the values and takes those read at reads (backends.ts's checkEngineSettings).
 */
export function applyTuningOnce(adapter: AdapterIdentity): AppliedTuning {
  applied ??= applyTuning(adapter);
  return applied;
}

/** What the engine applied as it opened its WebGPU adapter (undefined before, or on another backend). */
export const appliedTuning = (): AppliedTuning | undefined => applied;
