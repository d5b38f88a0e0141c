/** Every task mceval can run, by its --task name, and the groups that expand to several. */
import { UserError } from '../errors.js';
import { demoSentiment } from './demo/sentiment.js';
import { rte } from './glue/rte.js';
import { mrpc } from './glue/mrpc.js';
import { cola } from './glue/cola.js';
import { sst2 } from './glue/sst2.js';
import { qnli } from './glue/qnli.js';
import { qqp } from './glue/qqp.js';
import { mnliMatched, mnliMismatched } from './glue/mnli.js';
import { boolq } from './superglue/boolq.js';
import { wic } from './superglue/wic.js';
import { demoArith } from './demo/arith.js';
import { demoCode } from './demo/code.js';
import { gsm8k, gsm8kChat, gsm8kFewShot, gsm8kFewShotChat, gsm8kNShot } from './gsm8k/gsm8k.js';
import { gsm8kCot, gsm8kCotLlama } from './gsm8k/cot.js';
import { humaneval } from './code/humaneval.js';
import { arcChallengeMultipleChoice, arcEasyMultipleChoice } from './commonsense/arc-multiple-choice.js';
import {
  hellaswagMultipleChoice,
  openbookqaMultipleChoice,
  piqaMultipleChoice,
  siqaMultipleChoice,
  winograndeMultipleChoice,
} from './commonsense/zero-shot.js';
import {
  arcChallenge,
  arcEasy,
  boolqGeneration,
  hellaswag,
  openbookqa,
  piqa,
  siqa,
  winogrande,
} from './commonsense/generation.js';
import type { Task } from './types.js';
import { didYouMean } from '../nearest-name.js';

export const TASKS: Readonly<Record<string, Task>> = Object.fromEntries(
  [
    demoSentiment,
    demoArith,
    demoCode,
    mrpc,
    cola,
    rte,
    sst2,
    qnli,
    qqp,
    mnliMatched,
    mnliMismatched,
    boolq,
    wic,
    piqa,
    siqa,
    winogrande,
    arcEasy,
    arcChallenge,
    openbookqa,
    boolqGeneration,
    hellaswag,
    arcEasyMultipleChoice,
    arcChallengeMultipleChoice,
    piqaMultipleChoice,
    siqaMultipleChoice,
    winograndeMultipleChoice,
    openbookqaMultipleChoice,
    hellaswagMultipleChoice,
    gsm8k,
    gsm8kFewShot,
    gsm8kChat,
    gsm8kFewShotChat,
    gsm8kCot,
    gsm8kCotLlama,
    humaneval,
  ].map((task) => [task.name, task]),
);

export const TASK_GROUPS: Readonly<Record<string, readonly string[]>> = {
  glue: ['mrpc', 'cola', 'rte', 'sst2', 'qnli', 'qqp', 'mnli-matched', 'mnli-mismatched'],
  superglue: ['boolq', 'wic'],
  commonsense: ['piqa', 'siqa', 'winogrande', 'arc-easy', 'arc-challenge', 'openbookqa'],
};

/** `gsm8k-<n>shot[-chat]` for any n from 1 to 32 (the 5-shot tasks, lm-eval's default, are listed). */
const GSM8K_N_SHOT = /^gsm8k-(\d+)shot(-chat)?$/;

export function getTask(name: string): Task {
  const task = TASKS[name];
  if (task !== undefined) return task;
  const match = GSM8K_N_SHOT.exec(name);
  const shots = Number(match?.[1] ?? Number.NaN);
  if (Number.isInteger(shots) && shots >= 1 && shots <= 32) return gsm8kNShot(shots, match?.[2] !== undefined);
  throw new UserError(
    `Unknown task "${name}"${didYouMean(name, [...Object.keys(TASKS), ...Object.keys(TASK_GROUPS)])}: use one of ${Object.keys(TASKS).join(', ')} (gsm8k-<n>shot takes n from 1 to 32), or a group (${Object.keys(TASK_GROUPS).join(', ')}).`,
  );
}

/** --task values: comma lists and groups expanded, duplicates dropped, order kept. */
export function resolveTasks(values: readonly string[]): Task[] {
  const names = values
    .flatMap((value) => value.split(','))
    .map((name) => name.trim())
    .filter((name) => name !== '')
    .flatMap((name) => TASK_GROUPS[name] ?? [name]);
  return [...new Set(names)].map(getTask);
}
