/** The flags of `mceval run`; `src/sweep/request.ts` validates what they say together. */
import { Flags } from '@oclif/core';
import { backendFlag, numberFlag, wholeOrAutoFlag } from './flags.js';

export const runFlags = {
  task: Flags.string({
    description: 'Task to run (repeatable); see "mceval tasks".',
    required: true,
    multiple: true,
  }),
  adapter: Flags.string({
    description:
      'Adapter preset names or paths to preset .json files (repeatable or comma-separated); see "mceval adapters".',
    required: true,
    multiple: true,
  }),
  model: Flags.string({
    description: 'Model: builtin:NAME, a Hugging Face Llama folder, or a hub id (owner/name[@revision]).',
    default: 'builtin:tiny',
  }),
  grid: Flags.string({
    description: "Grid values, NAME=V1,V2,... with NAME lr or bs (repeatable). Default: the preset's grid.",
    multiple: true,
  }),
  data: Flags.string({
    description: 'Directory with the task data files (see "mceval tasks" for each layout). Default: $MCEVAL_DATA.',
  }),
  limit: Flags.integer({ description: 'Evaluate on the first N examples of each task (quick runs).', min: 1 }),
  'train-file': Flags.string({
    description:
      'Generation tasks: fine-tune on this JSONL instead ({prompt, completion}, {instruction, input, output} or {problem, solution} per line).',
  }),
  'train-limit': Flags.integer({ description: 'Train on the first N examples of each task (quick runs).', min: 1 }),
  'train-mixture': Flags.integer({
    description:
      "Fine-tune every task on one seeded sample of N pairs pooled from all the tasks' training files (LLM-Adapters' commonsense_15k is such a sample); written to --out as train-mixture.jsonl.",
    min: 1,
    exclusive: ['train-file'],
  }),
  samples: Flags.integer({
    description: 'Generation tasks: completions per problem (code tasks report pass@k for every k the count allows).',
    default: 1,
    min: 1,
  }),
  temperature: numberFlag(
    '--temperature',
    0,
    100,
  )({
    description: 'Generation tasks: sampling temperature (0 = greedy, the default).',
    default: 0,
  }),
  'top-p': numberFlag(
    '--top-p',
    0,
    1,
  )({
    description: 'Generation tasks: nucleus sampling mass (1 = off).',
    default: 1,
  }),
  'log-samples': Flags.boolean({
    description:
      'Write one JSON line per evaluated example (input, target, raw and filtered prediction, correctness, log-probs) under --out/samples/.',
    default: false,
  }),
  quiet: Flags.boolean({
    description:
      'Print no progress: no bar, no heartbeat, no line per finished run (the table and errors still print).',
    default: false,
  }),
  seed: Flags.integer({ description: 'Seed of every random draw in training.', default: 42 }),
  'grad-accum': wholeOrAutoFlag(
    '--grad-accum',
    'as few micro-batches as the GPU holds',
  )({
    description:
      "Micro-batches per optimiser step: each grid batch size stays the effective batch, trained in N passes whose gradients add up to the whole batch's (the same loss, less memory). auto: on webgpu 1, doubled (the run trained again from its start) while the GPU refuses a step for its size; elsewhere 1. Default: the preset's gradientAccumulation, else 1.",
  }),
  'pad-to-multiple-of': Flags.integer({
    description:
      "Pad each training batch to a multiple of N tokens (transformers' pad_to_multiple_of), up to the model's positions: fewer shapes, so fewer kernels built and, on webgpu with MCEVAL_WEBGPU_REPLAY=on, more steps replayed. 1: to the batch's longest row. Default: the preset's padToMultipleOf, else 1.",
    min: 1,
  }),
  'group-by-length': Flags.boolean({
    allowNo: true,
    description:
      "Batch training rows of about one length together (transformers' group_by_length: mega-batches of up to 50 batches, each sorted longest first, the longest row first); --no-group-by-length: plain shuffled batches, even where the preset groups them. Default: the preset's groupByLength, else plain shuffled batches.",
  }),
  'eval-batch-size': wholeOrAutoFlag(
    '--eval-batch-size',
    'the largest the GPU holds',
  )({
    description:
      "Sequences evaluated together (lm-eval's --batch_size): prompts generated, continuations scored, examples classified. Default: 16 (classification 32). auto: on webgpu the largest from 64 down, halved while the GPU refuses a batch for its size, as lm-eval's auto; elsewhere the default. A larger batch takes more memory; where steps wait on dispatches (a GPU) it runs in about a small one's time, where arithmetic counts (a CPU) it can be slower. Scores move only in float32's last places.",
  }),
  'max-eval-batch-size': Flags.integer({
    description:
      "Where --eval-batch-size auto starts on webgpu (lm-eval's --max_batch_size): a GPU with room for more than 64 sequences evaluates them together. Default: 64.",
    min: 1,
  }),
  epochs: Flags.integer({ description: "Training epochs per run. Default: the preset's.", min: 1 }),
  out: Flags.string({
    description:
      'The run store: mceval.sqlite, a folder per run (config, metrics, step log, samples, adapter), results.csv, summary.csv, results.json. Rerunning the same command there resumes it.',
    default: './mceval-runs',
  }),
  resume: Flags.boolean({
    description:
      "Add this sweep's runs to an --out that holds a different sweep (finished runs shared by both are kept).",
    default: false,
    exclusive: ['overwrite'],
  }),
  overwrite: Flags.boolean({
    description: "Remove mceval's files in --out (store, run folders, results) and start anew.",
    default: false,
  }),
  'save-adapters': Flags.string({
    description:
      "Keep each run's trained adapter in its folder, in PEFT's layout: all, best (per task × adapter), or none. Default: all, none for full fine-tuning.",
    options: ['none', 'best', 'all'],
  }),
  shard: Flags.string({
    description:
      'Run only shard i of n of the plan (i/n, 0 ≤ i < n; positions with p mod n = i) into its own --out; join shards with "mceval merge".',
  }),
  backend: backendFlag,
  jobs: Flags.integer({
    description:
      'Grid points trained at once, each on its own thread. Default: one per CPU core (1 with tfjs-node, which is multi-threaded itself).',
    min: 1,
  }),
};
