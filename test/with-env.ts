/**
 * Setting an environment variable for the length of a call. Its own module, importing nothing, so that the GPU kit's
 * bundle (bench/gpu/bench.ts) can use it without pulling in test/helpers.ts's fixtures and engine setup.
 */

/** Runs `body` with the environment variable `name` set to `value` (unset when undefined), then restores it. */
export async function withEnv<T>(name: string, value: string | undefined, body: () => T | Promise<T>): Promise<T> {
  const saved = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}
