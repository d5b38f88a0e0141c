/**
 * Environment variables set for the length of a call, then restored: how `mceval tune` times each value of a setting
 * (every setting is read from the environment at each call), and how tests and benchmarks set one (test/with-env.ts).
 */

/** Runs `body` with each variable set to its value (unset where undefined), then restores them as they were. */
export async function withEnvironment<T>(
  values: Readonly<Record<string, string | undefined>>,
  body: () => T | Promise<T>,
): Promise<T> {
  const saved = Object.fromEntries(Object.keys(values).map((variable) => [variable, process.env[variable]]));
  const set = (entries: Record<string, string | undefined>) => {
    for (const [variable, value] of Object.entries(entries)) {
      if (value === undefined) delete process.env[variable];
      else process.env[variable] = value;
    }
  };
  set(values);
  try {
    return await body();
  } finally {
    set(saved);
  }
}
