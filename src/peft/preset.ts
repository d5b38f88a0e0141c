/**
 * Adapter presets: declarative JSON files in adapters/ (or a user's own path) naming a method, its hyperparameters,
 * training defaults and the default sweep grid. `--adapter NAME` reads adapters/NAME.json.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { UserError, errorMessage } from '../errors.js';
import { packagePath } from '../paths.js';
import {
  expectObject,
  readBoolean,
  readNumber,
  readNumberArray,
  readString,
  rejectUnknownKeys,
} from '../config-validation.js';
import { ADAPTER_METHODS } from './registry.js';
import type { AdapterMethod } from './types.js';
import type { AccumulationSetting } from '../train/auto-accumulation.js';
import type { JsonObject } from '../config-validation.js';
import { didYouMean } from '../nearest-name.js';

export interface TrainingDefaults {
  readonly epochs: number;
  readonly weightDecay: number;
  readonly warmupRatio: number;
  readonly maxGradNorm: number;
  /** A run diverges when its loss stays above this multiple of its first step's loss … */
  readonly divergenceFactor: number;
  /** … for this many consecutive steps. */
  readonly divergencePatience: number;
  /** Micro-batches per optimiser step (the batch size stays the effective batch); 1 = none; auto as --grad-accum. */
  readonly gradientAccumulation: AccumulationSetting;
  /**
   * Each training batch padded to a multiple of this many tokens (transformers' `pad_to_multiple_of`); absent: to its
   * longest row. Absent rather than 1 by default, as is `groupByLength`, so that presets without them keep their runs'
   * keys (store/run-key.ts hashes the training settings).
   */
  readonly padToMultipleOf?: number;
  /** Batches of rows of about one length (transformers' `group_by_length`); absent: plain shuffled batches. */
  readonly groupByLength?: true;
}

export interface AdapterPreset {
  readonly name: string;
  readonly description: string;
  readonly method: AdapterMethod<unknown>;
  readonly adapterConfig: unknown;
  readonly training: TrainingDefaults;
  readonly grid: { readonly lr: readonly number[]; readonly bs: readonly number[] };
  readonly source: string;
}

export const PRESET_DIR = packagePath('adapters');

export function presetNames(): string[] {
  return readdirSync(PRESET_DIR)
    .filter((file) => file.endsWith('.json'))
    .map((file) => basename(file, '.json'))
    .sort();
}

/** `--adapter lora` or `--adapter path/to/preset.json`. */
export function resolvePresetPath(nameOrPath: string): string {
  if (extname(nameOrPath) === '.json') {
    if (!existsSync(nameOrPath)) throw new UserError(`Adapter preset file not found: ${nameOrPath}.`);
    return nameOrPath;
  }
  const path = packagePath('adapters', `${nameOrPath}.json`);
  if (!existsSync(path)) {
    throw new UserError(
      `Unknown adapter "${nameOrPath}"${didYouMean(nameOrPath, presetNames())}: use one of ${presetNames().join(', ')}, or a path to a preset .json file.`,
    );
  }
  return path;
}

export function loadPreset(nameOrPath: string): AdapterPreset {
  const source = resolvePresetPath(nameOrPath);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(source, 'utf8'));
  } catch (error) {
    throw new UserError(`Adapter preset ${source} is not valid JSON: ${errorMessage(error)}.`);
  }
  return parsePreset(raw, source);
}

export function parsePreset(raw: unknown, source: string): AdapterPreset {
  const top = expectObject(raw, `adapter preset ${source}`);
  rejectUnknownKeys(top, ['name', 'method', 'description', 'adapter', 'training', 'grid'], `adapter preset ${source}`);
  const methodName = readString(top, 'method', source);
  const method = ADAPTER_METHODS[methodName];
  if (method === undefined) {
    throw new UserError(
      `Unknown method "${methodName}" in ${source}${didYouMean(methodName, Object.keys(ADAPTER_METHODS))}: use one of ${Object.keys(ADAPTER_METHODS).join(', ')}.`,
    );
  }
  const trainingWhere = `the "training" section of ${source}`;
  const training = expectObject(top['training'] ?? {}, trainingWhere);
  rejectUnknownKeys(
    training,
    [
      'epochs',
      'weightDecay',
      'warmupRatio',
      'maxGradNorm',
      'divergenceFactor',
      'divergencePatience',
      'gradientAccumulation',
      'padToMultipleOf',
      'groupByLength',
    ],
    trainingWhere,
  );
  const gridWhere = `the "grid" section of ${source}`;
  const grid = expectObject(top['grid'], gridWhere);
  rejectUnknownKeys(grid, ['lr', 'bs'], gridWhere);
  return {
    name: readString(top, 'name', source, basename(source, '.json')),
    description: readString(top, 'description', source, method.description),
    method,
    adapterConfig: method.parseConfig(top['adapter'], source),
    training: {
      epochs: readNumber(training, 'epochs', trainingWhere, { default: 3, min: 1, integer: true }),
      weightDecay: readNumber(training, 'weightDecay', trainingWhere, { default: 0, min: 0 }),
      warmupRatio: readNumber(training, 'warmupRatio', trainingWhere, { default: 0, min: 0, max: 1 }),
      maxGradNorm: readNumber(training, 'maxGradNorm', trainingWhere, { default: 1, min: 0 }),
      divergenceFactor: readNumber(training, 'divergenceFactor', trainingWhere, { default: 4, min: 1 }),
      divergencePatience: readNumber(training, 'divergencePatience', trainingWhere, {
        default: 10,
        min: 1,
        integer: true,
      }),
      gradientAccumulation: readAccumulation(training, trainingWhere),
      ...batchShape(training, trainingWhere),
    },
    grid: { lr: readNumberArray(grid, 'lr', gridWhere), bs: readNumberArray(grid, 'bs', gridWhere) },
    source,
  };
}

/**
 * `preset` with its batch shaping set where given (--pad-to-multiple-of, --group-by-length), each kept only where it
 * changes the batches, as a preset file's is.
 */
export function withBatchShape(
  preset: AdapterPreset,
  shape: { readonly padToMultipleOf?: number | undefined; readonly groupByLength?: boolean | undefined },
): AdapterPreset {
  if (shape.padToMultipleOf === undefined && shape.groupByLength === undefined) return preset;
  const { padToMultipleOf, groupByLength, ...training } = preset.training;
  const multiple = shape.padToMultipleOf ?? padToMultipleOf ?? 1;
  const grouped = shape.groupByLength ?? groupByLength ?? false;
  return { ...preset, training: { ...training, ...shapeKeys(multiple, grouped) } };
}

/** training.padToMultipleOf and training.groupByLength, as read from a preset file. */
function batchShape(training: JsonObject, where: string): BatchShape {
  const multiple = readNumber(training, 'padToMultipleOf', where, { default: 1, min: 1, integer: true });
  return shapeKeys(multiple, readBoolean(training, 'groupByLength', where, false));
}

type BatchShape = Pick<TrainingDefaults, 'padToMultipleOf' | 'groupByLength'>;

/** The batch shaping keys, each only where it changes the batches (so that the others' run keys stay as they were). */
const shapeKeys = (multiple: number, grouped: boolean): BatchShape => ({
  ...(multiple === 1 ? {} : { padToMultipleOf: multiple }),
  ...(grouped ? { groupByLength: true } : {}),
});

/** training.gradientAccumulation: a whole number from 1 (1 where absent), or "auto" as --grad-accum auto. */
function readAccumulation(training: JsonObject, where: string): AccumulationSetting {
  const value = training['gradientAccumulation'] ?? 1;
  if (value === 'auto' || (typeof value === 'number' && Number.isInteger(value) && value >= 1)) return value;
  throw new UserError(`"gradientAccumulation" in ${where} must be a whole number from 1 or "auto".`);
}
