import { resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { runFlags } from '../cli/run-flags.js';
import { runArguments } from '../cli/run-arguments.js';
import { packagePath } from '../paths.js';
import { ensureWritableDirectory } from '../report/output-dir.js';
import { checkRunFlags, countPlannedRuns } from '../sweep/request.js';
import { shellScript, slurmScript, type ScriptSettings } from '../sweep/emit-script.js';

export default class Plan extends BaseCommand {
  static override summary =
    'Print a Slurm array job (or a shell loop) that runs a sweep in shards, to merge afterwards.';
  static override description =
    'Takes the flags of "mceval run" and prints a script: with --emit slurm an sbatch array with one task per shard ' +
    '(each runs "mceval run … --shard i/n --out OUT/shards/i"), with --emit shell the same shards one after another ' +
    'and the merge. After the array has finished, "mceval merge OUT OUT/shards/*" joins the shard stores into OUT, ' +
    'whose results.csv, summary.csv and results.json then cover the whole sweep. Creates OUT/shards for the job logs.';
  static override examples = [
    '<%= config.bin %> plan --task rte --adapter lora,monteclora --shards 6 --partition gpu --time 02:00:00 --gpus-per-task 1 > sweep.sbatch',
    '<%= config.bin %> plan --task demo-sentiment --adapter lora --shards 2 --emit shell > sweep.sh',
  ];
  static override flags = {
    ...runFlags,
    shards: Flags.integer({ description: 'Number of shards (array tasks).', required: true, min: 1 }),
    emit: Flags.string({ description: 'Script kind.', options: ['slurm', 'shell'], default: 'slurm' }),
    'job-name': Flags.string({ description: 'Slurm job name.', default: 'mceval' }),
    partition: Flags.string({ description: 'Slurm partition.' }),
    time: Flags.string({ description: 'Slurm time limit per array task (e.g. 02:00:00).' }),
    mem: Flags.string({ description: 'Slurm memory per node (e.g. 16G).' }),
    'cpus-per-task': Flags.integer({ description: 'Slurm CPUs per task (also --jobs, unless given).', min: 1 }),
    'gpus-per-task': Flags.integer({ description: 'Slurm GPUs per task.', min: 1 }),
  };

  async run(): Promise<{ script: string; runs: number; shards: number }> {
    const { flags } = await this.parse(Plan);
    const runs = countPlannedRuns(flags);
    checkRunFlags(flags);
    const out = resolve(flags.out);
    ensureWritableDirectory(resolve(out, 'shards'));
    const cpus = flags['cpus-per-task'];
    const settings: ScriptSettings = {
      mceval: [process.execPath, packagePath('bin', 'run.js')],
      runArguments: [
        ...runArguments(flags, ['out', 'shard', 'resume', 'overwrite']),
        ...(cpus !== undefined && flags.jobs === undefined ? ['--jobs', String(cpus)] : []),
      ],
      out,
      shards: flags.shards,
      runs,
      jobName: flags['job-name'],
      ...(flags.partition === undefined ? {} : { partition: flags.partition }),
      ...(flags.time === undefined ? {} : { time: flags.time }),
      ...(flags.mem === undefined ? {} : { mem: flags.mem }),
      ...(cpus === undefined ? {} : { cpusPerTask: cpus }),
      ...(flags['gpus-per-task'] === undefined ? {} : { gpusPerTask: flags['gpus-per-task'] }),
    };
    const script = flags.emit === 'shell' ? shellScript(settings) : slurmScript(settings);
    if (!this.jsonEnabled()) process.stdout.write(script);
    return { script, runs, shards: flags.shards };
  }
}
