/**
 * The WebGPU settings `mceval tune` times on a card and a tuning file may set: those that choose which kernels, tiles
 * and dispatches do a training step's work, each read at every call (or read), so that one process can time every
 * value. The first value is the setting's default. Not tuned: what a training step never reaches (the few-rows shader
 * of decoding), what changes what a run keeps or how it waits (the pool, overlap, replay, waits, limits, robustness),
 * tfjs's own flags (the submit batch, matMul's threshold: set once as the engine starts) and attention's lanes (by head
 * size unless set; a count that sums each row in another order).
 */
export interface TunableSetting {
  readonly variable: string;
  readonly values: readonly [string, ...string[]];
}

export const TUNABLE_SETTINGS: readonly TunableSetting[] = [
  { variable: 'MCEVAL_WEBGPU_PRODUCT_TILE', values: ['64', '128'] },
  { variable: 'MCEVAL_WEBGPU_PRODUCT_CODE', values: ['loops', 'unrolled'] },
  { variable: 'MCEVAL_WEBGPU_PRODUCT_PREFETCH', values: ['off', 'on'] },
  { variable: 'MCEVAL_WEBGPU_PRODUCTS', values: ['transposed', 'all', 'tfjs'] },
  { variable: 'MCEVAL_WEBGPU_INLINE_NARROW', values: ['auto', 'always', 'never'] },
  { variable: 'MCEVAL_WEBGPU_GROUPS', values: ['auto', 'never'] },
  { variable: 'MCEVAL_WEBGPU_ACTIVATIONS', values: ['inside', 'apart'] },
  { variable: 'MCEVAL_WEBGPU_RESTS', values: ['alongside', 'apart'] },
  { variable: 'MCEVAL_WEBGPU_ROPE', values: ['inside', 'apart'] },
  { variable: 'MCEVAL_WEBGPU_ATTENTION_GRADIENT', values: ['together', 'apart'] },
  { variable: 'MCEVAL_WEBGPU_WEIGHT_GRADIENTS', values: ['split', 'tfjs'] },
  { variable: 'MCEVAL_WEBGPU_WEIGHT_GRADIENT_SUMS', values: ['later', 'now'] },
  { variable: 'MCEVAL_WEBGPU_BIND_GROUPS', values: ['kept', 'new'] },
  { variable: 'MCEVAL_WEBGPU_JOINS', values: ['copies', 'shaders'] },
];

/** The tunable setting named `variable`, if it is one. */
export const tunableSetting = (variable: string): TunableSetting | undefined =>
  TUNABLE_SETTINGS.find((setting) => setting.variable === variable);

/** Whether the user has set `variable` (a set value is never tuned over: the environment comes first). */
export const setByUser = (variable: string): boolean => (process.env[variable] ?? '') !== '';

/** Values as they are set: `VARIABLE=value, …`. */
export const describeValues = (values: Readonly<Record<string, string>>): string =>
  Object.entries(values)
    .map(([variable, value]) => `${variable}=${value}`)
    .join(', ');
