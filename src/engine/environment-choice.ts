/**
 * An engine setting read from the environment that takes one of a few named values: unset or empty is the first, any
 * other value stops the run with one line naming them. Read as the engine starts, so that a bad value stops a run
 * before its store exists.
 */
import { UserError } from '../errors.js';
import { alternatives } from '../nearest-name.js';

export function environmentChoice<T extends string>(variable: string, choices: readonly [T, ...T[]]): T {
  const setting = process.env[variable];
  if (setting === undefined || setting === '') return choices[0];
  if ((choices as readonly string[]).includes(setting)) return setting as T;
  throw new UserError(`${variable}=${setting} is not a choice mceval has: use ${alternatives(choices)}, or unset it.`);
}
