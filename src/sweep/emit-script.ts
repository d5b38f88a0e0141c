/**
 * `mceval plan --emit slurm|shell`: a script that runs a sweep as `--shard i/n` slices, each into its own store under
 * OUT/shards/i, for `mceval merge` to join. Slurm: one array task per shard (SLURM_ARRAY_TASK_ID is i), with the
 * resources asked for; shell: the same slices one after another on this machine, then the merge.
 */
import { join } from 'node:path';

export interface ScriptSettings {
  /** The command that starts mceval on the nodes (absolute paths: node and bin/run.js). */
  readonly mceval: readonly string[];
  /** `mceval run`'s arguments, without --out and --shard. */
  readonly runArguments: readonly string[];
  /** The merged store; shards go to OUT/shards/i. */
  readonly out: string;
  readonly shards: number;
  readonly runs: number;
  readonly jobName?: string;
  readonly partition?: string;
  readonly time?: string;
  readonly mem?: string;
  readonly cpusPerTask?: number;
  readonly gpusPerTask?: number;
}

/** A word as the shell reads it back unchanged. */
export function shellQuote(word: string): string {
  return /^[\w./=:,+@%-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const command = (words: readonly string[]) => words.map(shellQuote).join(' ');

export function shardDir(out: string, shard: number | string): string {
  return join(out, 'shards', String(shard));
}

function mergeCommand(settings: ScriptSettings): string {
  const shards = Array.from({ length: settings.shards }, (_, i) => shardDir(settings.out, i));
  return command([...settings.mceval, 'merge', settings.out, ...shards]);
}

export function slurmScript(settings: ScriptSettings): string {
  const directives = [
    `--job-name=${settings.jobName ?? 'mceval'}`,
    `--array=0-${settings.shards - 1}`,
    `--output=${join(settings.out, 'shards', 'slurm-%A_%a.out')}`,
    ...(settings.partition === undefined ? [] : [`--partition=${settings.partition}`]),
    ...(settings.time === undefined ? [] : [`--time=${settings.time}`]),
    ...(settings.mem === undefined ? [] : [`--mem=${settings.mem}`]),
    ...(settings.cpusPerTask === undefined ? [] : [`--cpus-per-task=${settings.cpusPerTask}`]),
    ...(settings.gpusPerTask === undefined ? [] : [`--gpus-per-task=${settings.gpusPerTask}`]),
  ];
  const shard = `"\${SLURM_ARRAY_TASK_ID}/${settings.shards}"`;
  const out = `${shellQuote(join(settings.out, 'shards'))}/"\${SLURM_ARRAY_TASK_ID}"`;
  return [
    '#!/bin/bash',
    ...directives.map((directive) => `#SBATCH ${shellQuote(directive)}`),
    `# mceval: ${settings.runs} runs in ${settings.shards} shards, one per array task. When the array has finished:`,
    `#   ${mergeCommand(settings)}`,
    'set -euo pipefail',
    `exec ${command([...settings.mceval, 'run', ...settings.runArguments])} --shard ${shard} --out ${out}`,
    '',
  ].join('\n');
}

export function shellScript(settings: ScriptSettings): string {
  const runs = Array.from(
    { length: settings.shards },
    (_, i) =>
      `${command([...settings.mceval, 'run', ...settings.runArguments, '--shard', `${i}/${settings.shards}`, '--out', shardDir(settings.out, i)])}`,
  );
  return [
    '#!/bin/sh',
    `# mceval: ${settings.runs} runs in ${settings.shards} shards, one after another, then merged into ${settings.out}.`,
    'set -e',
    ...runs,
    mergeCommand(settings),
    '',
  ].join('\n');
}
