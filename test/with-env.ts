/**
 * Setting an environment variable for the length of a call. Its own module, importing only the engine's helper, so
 * that the GPU kit's bundle (bench/gpu/bench.ts) can use it without pulling in test/helpers.ts's fixtures and engine
 * setup.
 */
import { withEnvironment } from '../src/engine/environment-values.js';

/** Runs `body` with the environment variable `name` set to `value` (unset when undefined), then restores it. */
export const withEnv = <T>(name: string, value: string | undefined, body: () => T | Promise<T>): Promise<T> =>
  withEnvironment({ [name]: value }, body);
