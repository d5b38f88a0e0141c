import { BaseCommand } from '../cli/base-command.js';
import { hubExportPath } from '../data/hub-export.js';
import { TASK_GROUPS, TASKS } from '../tasks/registry.js';

export interface TaskListing {
  readonly name: string;
  readonly kind: string;
  readonly description: string;
  /** Files read under --data (none for the shipped demo tasks). */
  readonly dataFiles: readonly string[];
  /** Or these Hugging Face export paths under --data (hub/<repo>/<config>/<split>), where the task reads them. */
  readonly hubExports: readonly string[];
}

export default class Tasks extends BaseCommand {
  static override summary =
    'List the tasks mceval can run, the data files (or Hugging Face exports) each reads under --data, and the groups.';
  static override examples = ['<%= config.bin %> tasks', '<%= config.bin %> tasks --json'];

  async run(): Promise<TaskListing[]> {
    await this.parse(Tasks);
    const listing = Object.values(TASKS).map((task) => ({
      name: task.name,
      kind: task.kind,
      description: task.description,
      dataFiles: task.dataFiles ?? [],
      hubExports: Object.values(task.hub?.splits ?? {}).map(hubExportPath),
    }));
    const width = Math.max(...listing.map((task) => task.name.length));
    for (const task of listing) {
      this.log(`${task.name.padEnd(width)}  ${task.description}`);
      if (task.dataFiles.length > 0) this.log(`${' '.repeat(width)}  --data DIR with: ${task.dataFiles.join(', ')}`);
      if (task.hubExports.length > 0) this.log(`${' '.repeat(width)}  or hub exports: ${task.hubExports.join(', ')}`);
    }
    this.log(
      `Groups: ${Object.entries(TASK_GROUPS)
        .map(([name, members]) => `${name} (${members.join(', ')})`)
        .join('; ')}`,
    );
    return listing;
  }
}
