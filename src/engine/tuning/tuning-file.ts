/**
 * The tuning file: the settings `mceval tune` chose, per WebGPU adapter (apply-tuning.ts applies them). MCEVAL_WEBGPU_TUNING: unset for
 * `$XDG_CACHE_HOME/mceval/webgpu-tuning.json` (~/.cache when XDG_CACHE_HOME is unset), a path for another file, or
 * `off` for none. A file that cannot be read as one stops the run with one line naming it and the fix.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { UserError, errorMessage } from '../../errors.js';
import { tunableSetting } from './tunable-settings.js';

export const TUNING_SETTING = 'MCEVAL_WEBGPU_TUNING';
const FORMAT = 1;

/** What one adapter's entry holds: the values chosen (defaults left out) and what they were timed on. */
export interface TunedEntry {
  readonly settings: Readonly<Record<string, string>>;
  readonly tunedOn: {
    readonly model: string;
    readonly adapter: string;
    readonly batch: number;
    readonly length: number;
  };
  readonly date: string;
}

interface TuningFile {
  readonly format: number;
  readonly adapters: Readonly<Record<string, TunedEntry>>;
}

/** The adapter as a tuning file names it: the same card and driver give the same name. */
export interface AdapterIdentity {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
}

export const adapterKey = ({ vendor, architecture, device, description }: AdapterIdentity): string =>
  [vendor, architecture, device, description].map((part) => part || '-').join(' | ');

/** The tuning file's path, or undefined under MCEVAL_WEBGPU_TUNING=off. */
export function tuningPath(): string | undefined {
  const setting = process.env[TUNING_SETTING] ?? '';
  if (setting === 'off') return undefined;
  if (setting !== '') return setting;
  const cache = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(cache, 'mceval', 'webgpu-tuning.json');
}

const unreadable = (path: string, problem: string) =>
  new UserError(
    `The tuning file ${path} ${problem}: run "mceval tune" again, delete the file, or set ${TUNING_SETTING}=off.`,
  );

/** The file's entries by adapter; none where it does not exist. Every value is checked against its setting's. */
export function readTuningFile(path: string): Record<string, TunedEntry> {
  if (!existsSync(path)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw unreadable(path, `is not JSON (${errorMessage(error)})`);
  }
  const file = parsed as Partial<TuningFile> | null;
  if (typeof file !== 'object' || file === null || file.format !== FORMAT || typeof file.adapters !== 'object')
    throw unreadable(path, `is not a tuning file of format ${FORMAT}`);
  for (const [key, entry] of Object.entries(file.adapters ?? {})) {
    if (typeof entry?.settings !== 'object' || entry.settings === null)
      throw unreadable(path, `has no settings for adapter "${key}"`);
    for (const [variable, value] of Object.entries(entry.settings)) {
      const setting = tunableSetting(variable);
      if (setting === undefined) throw unreadable(path, `sets ${variable}, which is not a tuned setting`);
      if (!setting.values.includes(value))
        throw unreadable(path, `sets ${variable}=${String(value)}, not a value of it`);
    }
  }
  return { ...file.adapters };
}

/** Writes (or replaces) the adapter's entry, keeping the others; the file is replaced whole, never left half-written. */
export function writeTunedEntry(path: string, key: string, entry: TunedEntry): void {
  const adapters = { ...readTuningFile(path), [key]: entry };
  const file: TuningFile = { format: FORMAT, adapters };
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(partial, path);
}
