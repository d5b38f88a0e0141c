/**
 * A setting of a few named values (environment-choice.ts) read as the engine starts and again at every read on webgpu
 * (read-settings.ts) rather than at each call that follows it, so that a benchmark can switch it between the steps of
 * one process: `read` reads the environment now (a bad value stops the run with one line), `apply` makes that the
 * value followed until the next read, and `current` is the value followed.
 */
import { environmentChoice } from './environment-choice.js';

export interface ReadTimeChoice<T extends string> {
  read(): T;
  apply(): void;
  current(): T;
}

export function readTimeChoice<T extends string>(variable: string, choices: readonly [T, ...T[]]): ReadTimeChoice<T> {
  let current = choices[0];
  return {
    read: () => environmentChoice(variable, choices),
    apply: () => {
      current = environmentChoice(variable, choices);
    },
    current: () => current,
  };
}
