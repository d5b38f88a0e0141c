import { BaseCommand } from '../cli/base-command.js';
import { TASKS } from '../tasks/registry.js';

export interface TaskListing {
  readonly name: string;
  readonly kind: string;
  readonly description: string;
}

export default class Tasks extends BaseCommand {
  static override summary = 'List the tasks mceval can run.';
  static override examples = ['<%= config.bin %> tasks', '<%= config.bin %> tasks --json'];

  async run(): Promise<TaskListing[]> {
    await this.parse(Tasks);
    const listing = Object.values(TASKS).map((task) => ({
      name: task.name,
      kind: task.kind,
      description: task.description,
    }));
    const width = Math.max(...listing.map((task) => task.name.length));
    for (const task of listing) this.log(`${task.name.padEnd(width)}  ${task.description}`);
    return listing;
  }
}
