/** Every task mceval can run, by its --task name. */
import { UserError } from '../errors.js';
import { demoSentiment } from './demo-sentiment.js';
import type { Task } from './types.js';

export const TASKS: Readonly<Record<string, Task>> = {
  [demoSentiment.name]: demoSentiment,
};

export function getTask(name: string): Task {
  const task = TASKS[name];
  if (task === undefined) throw new UserError(`Unknown task "${name}": use one of ${Object.keys(TASKS).join(', ')}.`);
  return task;
}
