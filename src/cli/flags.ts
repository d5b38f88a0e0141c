import { Flags } from '@oclif/core';
import { BACKEND_REQUESTS } from '../engine/backends.js';
import { UserError } from '../errors.js';

/** --backend for every command that computes; MCEVAL_BACKEND is read when the flag is absent. */
export const backendFlag = Flags.string({
  description:
    'Tensor backend: auto tries tensorflow (tfjs-node-gpu, tfjs-node), then webgpu (a hardware adapter only), then wasm, then cpu. Default: $MCEVAL_BACKEND or auto.',
  options: [...BACKEND_REQUESTS],
});

/** --sandbox for every command that executes generated code. */
export const sandboxFlag = Flags.string({
  description:
    'Code isolation: strict (namespaces, no network, read-only file system; the default where the machine allows it) or process (resource limits only).',
  options: ['strict', 'process'],
});

/** --workers: parallel code executions. */
export const workersFlag = Flags.integer({
  description: 'Programs executed in parallel (default: the number of cores).',
  min: 1,
});

/** A whole number from 1, or auto; anything else is one line naming the flag and what auto asks for. */
export function parseWholeOrAuto(input: string, name: string, auto: string): number | 'auto' {
  const text = input.trim();
  if (text === 'auto') return 'auto';
  if (/^[1-9]\d*$/.test(text)) return Number(text);
  throw new UserError(`${name} must be a whole number from 1 or auto (${auto}), not "${input}".`);
}

/** A flag of a whole number from 1 or auto (--eval-batch-size: runners/eval-batch.ts; --grad-accum: auto-accumulation.ts). */
export const wholeOrAutoFlag = (name: string, auto: string) =>
  Flags.custom<number | 'auto'>({ parse: async (input) => parseWholeOrAuto(input, name, auto) });

/** A real-valued flag within [min, max]; anything else is one line naming the flag and the range. */
export function numberFlag(name: string, min: number, max: number) {
  return Flags.custom<number>({
    parse: async (input) => {
      const value = Number(input);
      if (input.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
        throw new UserError(
          `${name} must be a number from ${min} to ${max === Number.POSITIVE_INFINITY ? '∞' : max}, not "${input}".`,
        );
      }
      return value;
    },
  });
}

/** Comma-separated positive integers (pass@k's k values); anything else is one line naming the flag. */
export function positiveIntegerListFlag(name: string) {
  return Flags.custom<number[]>({
    parse: async (input) => {
      const values = input.split(',').map((value) => Number(value.trim()));
      if (values.some((value) => !Number.isInteger(value) || value < 1)) {
        throw new UserError(`${name} must be comma-separated positive integers, not "${input}".`);
      }
      return values;
    },
  });
}
