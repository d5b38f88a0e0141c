/**
 * An engine setting read from the environment that takes one of a few named values: unset or empty is the first, any
 * other value stops the run with one line naming them. Read as the engine starts, so that a bad value stops a run
 * before its store exists.
 */
import { UserError } from '../errors.js';

/** "a or b", "a, b or c". */
const alternatives = (choices: readonly string[]) =>
  choices.length === 1 ? choices[0]! : `${choices.slice(0, -1).join(', ')} or ${choices.at(-1)!}`;

export function environmentChoice<T extends string>(variable: string, choices: readonly [T, ...T[]]): T {
  const setting = process.env[variable];
  if (setting === undefined || setting === '') return choices[0];
  if ((choices as readonly string[]).includes(setting)) return setting as T;
  throw new UserError(`${variable}=${setting} is not a choice mceval has: use ${alternatives(choices)}, or unset it.`);
}
