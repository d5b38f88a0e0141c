import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { UserError } from '../../errors.js';
import { resolveDataDir } from '../../data/data-dir.js';
import { resolveTasks, TASKS } from '../../tasks/registry.js';
import { verifyTaskData, type TaskCheck } from '../../data/verify.js';

export default class DataVerify extends BaseCommand {
  static override summary = 'Check task data under --data: files present, known checksums, canonical record counts.';
  static override examples = [
    '<%= config.bin %> data verify --data ./data',
    '<%= config.bin %> data verify glue --data ./data',
  ];
  static override args = {
    task: Args.string({ description: 'Task or group (default: every task that reads data files).' }),
  };
  static override flags = {
    data: Flags.string({ description: 'Directory with the task data files. Default: $MCEVAL_DATA.' }),
  };

  async run(): Promise<TaskCheck[]> {
    const { args, flags } = await this.parse(DataVerify);
    const dataDir = resolveDataDir(flags.data);
    if (dataDir === undefined) throw new UserError('Pass --data DIR (or set MCEVAL_DATA): the directory to check.');
    const tasks = (args.task === undefined ? Object.values(TASKS) : resolveTasks([args.task])).filter(
      (task) => (task.dataFiles ?? []).length > 0,
    );
    const checks: TaskCheck[] = [];
    for (const task of tasks) {
      const check = await verifyTaskData(task, dataDir);
      checks.push(check);
      const counts = check.counts === undefined ? '' : ` ${check.counts[0]} train / ${check.counts[1]} eval;`;
      const sums = check.files.filter((file) => file.checksumMatches === true).length;
      this.log(
        `${check.ok ? 'ok  ' : 'FAIL'} ${task.name}:${counts} ${check.files.length} files, ${sums} checksums verified` +
          (check.problem === undefined ? '' : ` — ${check.problem}`),
      );
    }
    if (checks.some((check) => !check.ok)) process.exitCode = 1;
    return checks;
  }
}
