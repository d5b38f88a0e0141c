import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { UserError } from '../../errors.js';
import { resolveDataDir } from '../../data/data-dir.js';
import { getTask } from '../../tasks/registry.js';
import { pullTaskData } from '../../data/pull.js';

export default class DataPull extends BaseCommand {
  static override summary =
    "Download a task's data into --data: plain files by sha256 (GSM8K, HumanEval, MBPP, LLM-Adapters), the rest from the hub's parquet conversion.";
  static override examples = [
    '<%= config.bin %> data pull gsm8k --data ./data',
    '<%= config.bin %> data pull rte --data ./data',
  ];
  static override args = { task: Args.string({ description: 'The task.', required: true }) };
  static override flags = {
    data: Flags.string({ description: 'Directory to download into. Default: $MCEVAL_DATA.' }),
  };

  async run(): Promise<{ task: string; pulled: string[] }> {
    const { args, flags } = await this.parse(DataPull);
    const dataDir = resolveDataDir(flags.data);
    if (dataDir === undefined) throw new UserError('Pass --data DIR (or set MCEVAL_DATA): where to put the files.');
    const task = getTask(args.task);
    const pulled = await pullTaskData(task, dataDir);
    this.log(
      pulled.length === 0 ? `${task.name}: every file is already there.` : `${task.name}: pulled ${pulled.join(', ')}.`,
    );
    return { task: task.name, pulled };
  }
}
