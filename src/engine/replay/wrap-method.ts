/** Wrapping one method of an object (Dawn's device, queue or encoder, tfjs's backend) and undoing it. */

export type AnyMethod = (...args: unknown[]) => unknown;

/** Replaces `target[name]` by `wrapper(original)`, the original bound to `target`; returns the undoing. */
export function wrapMethod<T extends object, K extends keyof T>(
  target: T,
  name: K,
  wrapper: (original: T[K]) => T[K],
): () => void {
  const original = target[name];
  target[name] = wrapper((original as AnyMethod).bind(target) as T[K]);
  return () => {
    target[name] = original;
  };
}
