import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { backendFlag, numberFlag } from '../cli/flags.js';
import { UserError } from '../errors.js';
import { initEngine, resolveBackendRequest } from '../engine/backends.js';
import { loadModel, resolveModelSpec } from '../models/load.js';
import { HfTokenizer } from '../models/tokenizers/hf-tokenizer.js';
import { generate, type StopReason } from '../generation/generate.js';

export interface GenerateResult {
  readonly model: string;
  readonly prompt: string;
  readonly promptIds: readonly number[];
  readonly ids: readonly number[];
  readonly text: string;
  /** log p(token | prefix) per generated token, under the unmodified distribution. */
  readonly logprobs: readonly number[];
  readonly stopReason: StopReason;
  readonly tokensPerSecond: number;
}

export default class Generate extends BaseCommand {
  static override summary = 'Generate text from a prompt: the quickest check that a checkpoint loaded correctly.';
  static override examples = [
    '<%= config.bin %> generate --model ./stories260K --prompt "Once upon a time" --max-new-tokens 40',
    '<%= config.bin %> generate --model ./Llama-3.2-3B-Instruct --chat --prompt "Name three primes." --temperature 0.7 --top-p 0.9 --seed 1',
    '<%= config.bin %> generate --model ./stories260K --prompt "Once upon a time" --stop "." --json',
  ];
  static override flags = {
    model: Flags.string({
      description:
        'Model: a Hugging Face model folder, a hub id (owner/name[@revision], downloaded to the cache), or builtin:NAME.',
      required: true,
    }),
    prompt: Flags.string({ description: 'The prompt text.', required: true }),
    'max-new-tokens': Flags.integer({ description: 'Most tokens to generate.', default: 64, min: 1 }),
    temperature: numberFlag(
      '--temperature',
      0,
      Number.POSITIVE_INFINITY,
    )({
      description: 'Sampling temperature; 0 is greedy.',
      default: 0,
    }),
    'top-p': numberFlag(
      '--top-p',
      0,
      1,
    )({
      description: 'Nucleus sampling: keep the most likely tokens up to this probability.',
      default: 1,
    }),
    'top-k': Flags.integer({ description: 'Keep only the k most likely tokens (0 = all).', default: 0, min: 0 }),
    seed: Flags.integer({ description: 'Seed of the sampling draws.', default: 0 }),
    stop: Flags.string({ description: 'Stop sequence (repeatable); the text is cut where it begins.', multiple: true }),
    chat: Flags.boolean({
      description: "Wrap the prompt as a user message with the tokenizer's chat template.",
      default: false,
    }),
    'no-cache': Flags.boolean({
      description: 'Recompute the whole sequence each step instead of using the KV cache.',
      default: false,
    }),
    backend: backendFlag,
  };

  async run(): Promise<GenerateResult> {
    const { flags } = await this.parse(Generate);
    await initEngine(resolveBackendRequest(flags.backend));
    const { model, tokenizer } = loadModel(await resolveModelSpec(flags.model));
    try {
      let promptIds: number[];
      if (flags.chat) {
        if (!(tokenizer instanceof HfTokenizer) || !tokenizer.hasChatTemplate) {
          throw new UserError(
            `--chat: ${flags.model} has no chat template (tokenizer_config.json or chat_template.jinja).`,
          );
        }
        // As apply_chat_template(tokenize=True): the template writes its own special tokens.
        const rendered = tokenizer.renderChat([{ role: 'user', content: flags.prompt }], { addGenerationPrompt: true });
        promptIds = tokenizer.encode(rendered, { addBos: false });
      } else {
        promptIds = tokenizer.encode(flags.prompt);
      }
      const started = performance.now();
      const [row] = await generate(model, tokenizer, [promptIds], {
        maxNewTokens: flags['max-new-tokens'],
        sampling: { temperature: flags.temperature, topK: flags['top-k'], topP: flags['top-p'] },
        seed: flags.seed,
        stopSequences: flags.stop ?? [],
        useCache: !flags['no-cache'],
      });
      const seconds = (performance.now() - started) / 1000;
      this.log(`${flags.prompt}${row!.text}`);
      if (!this.jsonEnabled()) {
        this.logToStderr(
          `[${row!.ids.length} tokens, ${(row!.ids.length / seconds).toFixed(1)} tokens/s, stopped: ${row!.stopReason}]`,
        );
      }
      return {
        model: flags.model,
        prompt: flags.prompt,
        promptIds,
        ids: row!.ids,
        text: row!.text,
        logprobs: row!.logprobs,
        stopReason: row!.stopReason,
        tokensPerSecond: row!.ids.length / seconds,
      };
    } finally {
      model.dispose();
    }
  }
}
