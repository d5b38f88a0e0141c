/**
 * Small strict readers for JSON configuration (presets, fixtures): every unknown key and every wrong type is an
 * error that names the file, the key and what was expected.
 */
import { UserError } from './errors.js';

export type JsonObject = Record<string, unknown>;

export function expectObject(value: unknown, where: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UserError(`${where} must be a JSON object.`);
  }
  return value as JsonObject;
}

export function rejectUnknownKeys(object: JsonObject, known: readonly string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      throw new UserError(`Unknown key "${key}" in ${where}: allowed keys are ${known.join(', ')}.`);
    }
  }
}

export function readNumber(
  object: JsonObject,
  key: string,
  where: string,
  options: { default?: number; min?: number; max?: number; integer?: boolean } = {},
): number {
  const value = object[key] ?? options.default;
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new UserError(`"${key}" in ${where} must be a number.`);
  if (options.integer && !Number.isInteger(value)) throw new UserError(`"${key}" in ${where} must be an integer.`);
  if (options.min !== undefined && value < options.min)
    throw new UserError(`"${key}" in ${where} must be ≥ ${options.min}.`);
  if (options.max !== undefined && value > options.max)
    throw new UserError(`"${key}" in ${where} must be ≤ ${options.max}.`);
  return value;
}

export function readString(object: JsonObject, key: string, where: string, fallback?: string): string {
  const value = object[key] ?? fallback;
  if (typeof value !== 'string' || value === '')
    throw new UserError(`"${key}" in ${where} must be a non-empty string.`);
  return value;
}

export function readStringArray(object: JsonObject, key: string, where: string, fallback?: string[]): string[] {
  const value = object[key] ?? fallback;
  if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === 'string')) {
    throw new UserError(`"${key}" in ${where} must be a non-empty array of strings.`);
  }
  return value as string[];
}

export function readNumberArray(object: JsonObject, key: string, where: string): number[] {
  const value = object[key];
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((item) => typeof item === 'number' && Number.isFinite(item))
  ) {
    throw new UserError(`"${key}" in ${where} must be a non-empty array of numbers.`);
  }
  return value as number[];
}

export function readBoolean(object: JsonObject, key: string, where: string, fallback: boolean): boolean {
  const value = object[key] ?? fallback;
  if (typeof value !== 'boolean') throw new UserError(`"${key}" in ${where} must be true or false.`);
  return value;
}
