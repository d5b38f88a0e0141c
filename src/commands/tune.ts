import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { numberFlag } from '../cli/flags.js';
import { UserError } from '../errors.js';
import { initEngine } from '../engine/backends.js';
import { webGpuAdapterReport } from '../engine/webgpu.js';
import { applyReadTimeSettings } from '../engine/read-settings.js';
import { loadAnyModel, resolveModelSpec } from '../models/load.js';
import { EncoderModel } from '../models/encoder/model.js';
import { loadPreset } from '../peft/preset.js';
import { adapterConfigFor } from '../peft/target-aliases.js';
import { classificationStepLoss } from '../train/synthetic-step.js';
import { timedTraining } from '../train/timed-training.js';
import { describeValues, setByUser, TUNABLE_SETTINGS } from '../engine/tuning/tunable-settings.js';
import { adapterKey, tuningPath, TUNING_SETTING, writeTunedEntry } from '../engine/tuning/tuning-file.js';
import { tuneSettings, type TuneResult } from '../engine/tuning/tune.js';

export interface TuneCommandResult extends TuneResult {
  readonly adapter: string;
  readonly file: string;
  /** Settings the environment sets, left as they are. */
  readonly fixed: readonly string[];
}

export default class Tune extends BaseCommand {
  static override summary = "Time the WebGPU settings on this machine's GPU and keep the fastest for later runs.";
  static override description =
    'Trains a fresh adapter of the preset on random tokens from one seed under each value of each WebGPU setting ' +
    "that chooses a training step's kernels (docs/gpu.md), one setting after another, and keeps a value where it saves more than --margin of the " +
    'step time over --rounds rounds and gives the same losses bit for bit. The kept values are written to the ' +
    `tuning file ($${TUNING_SETTING}, by default ~/.cache/mceval/webgpu-tuning.json) under this GPU's name; ` +
    'every later run on this GPU applies them where the environment does not set them, and "mceval doctor" says so.';
  static override examples = [
    '<%= config.bin %> tune',
    '<%= config.bin %> tune --model ./Llama-3.2-1B --adapter monteclora --batch 8 --length 512',
    '<%= config.bin %> tune --setting MCEVAL_WEBGPU_PRODUCT_TILE --setting MCEVAL_WEBGPU_PRODUCT_CODE --json',
  ];
  static override flags = {
    model: Flags.string({
      description: 'Model to time: a Hugging Face model folder, a hub id or builtin:NAME (the one your runs train).',
      default: 'builtin:small',
    }),
    adapter: Flags.string({ description: 'Adapter preset whose step is timed.', default: 'lora' }),
    batch: Flags.integer({ description: 'Rows of the timed step.', default: 8, min: 1 }),
    length: Flags.integer({ description: 'Tokens a row.', default: 128, min: 2 }),
    steps: Flags.integer({ description: 'Timed steps a training (after two to warm up).', default: 5, min: 1 }),
    rounds: Flags.integer({ description: 'Rounds timing a value against the kept one, in turn.', default: 3, min: 1 }),
    margin: numberFlag(
      '--margin',
      0,
      0.5,
    )({ description: 'Share of the step time a value must save to be kept.', default: 0.03 }),
    setting: Flags.string({
      description: 'Tune only this setting (repeatable); default: all of them.',
      multiple: true,
      options: TUNABLE_SETTINGS.map(({ variable }) => variable),
    }),
    seed: Flags.integer({ description: 'Seed of the adapter, the tokens and the dropout.', default: 0 }),
  };

  async run(): Promise<TuneCommandResult> {
    const { flags } = await this.parse(Tune);
    const file = tuningPath();
    if (file === undefined)
      throw new UserError(`${TUNING_SETTING}=off leaves nowhere to write the tuning: unset it or name a file.`);
    const preset = loadPreset(flags.adapter);
    if (preset.method.evaluatesOnly === true)
      throw new UserError(
        `--adapter ${flags.adapter} trains nothing: tune times a training step; name one that trains.`,
      );
    await initEngine('webgpu', { applyTuning: false });
    const adapter = webGpuAdapterReport()!;
    const { model } = loadAnyModel(await resolveModelSpec(flags.model));
    const wanted = TUNABLE_SETTINGS.filter(({ variable }) => flags.setting?.includes(variable) ?? true);
    const fixed = wanted.filter(({ variable }) => setByUser(variable)).map(({ variable }) => variable);
    const settings = wanted.filter(({ variable }) => !fixed.includes(variable));
    const config = adapterConfigFor(model, preset.adapterConfig);
    const stepSettings = {
      batch: flags.batch,
      length: flags.length,
      seed: flags.seed,
      ...(model instanceof EncoderModel ? { loss: classificationStepLoss } : {}),
    };
    const measure = async () => {
      // The bind groups' setting is taken at reads: taken now, before the training's first step.
      applyReadTimeSettings();
      return timedTraining(model, preset.method, config, stepSettings, flags.steps);
    };
    if (fixed.length > 0) this.log(`Set by the environment, not tuned: ${fixed.join(', ')}`);
    this.log(
      `Tuning ${settings.length} setting${settings.length === 1 ? '' : 's'} on ${adapterKey(adapter)}: ` +
        `${flags.adapter} on ${flags.model}, ${flags.batch} × ${flags.length} tokens, ${flags.rounds} round${flags.rounds === 1 ? '' : 's'}`,
    );
    let result: TuneResult;
    try {
      result = await tuneSettings({
        settings,
        rounds: flags.rounds,
        margin: flags.margin,
        measure,
        log: (line) => this.log(line),
      });
    } finally {
      model.dispose();
      applyReadTimeSettings();
    }
    writeTunedEntry(file, adapterKey(adapter), {
      settings: result.chosen,
      tunedOn: { model: flags.model, adapter: flags.adapter, batch: flags.batch, length: flags.length },
      date: new Date().toISOString(),
    });
    this.log(`${summaryOf(result, flags.margin)} Wrote ${file}; runs on this GPU now apply it.`);
    return { ...result, adapter: adapterKey(adapter), file, fixed };
  }
}

/** The sweep's outcome in a sentence. */
function summaryOf(result: TuneResult, margin: number): string {
  const times = `${result.tunedMsPerStep.toFixed(2)} ms a step against ${result.defaultMsPerStep.toFixed(2)}`;
  if (result.unconfirmed !== undefined)
    return (
      `Every default kept: ${describeValues(result.unconfirmed)}, each faster in turn, took ${result.ratio.toFixed(3)}× ` +
      `the defaults' time together (${times}).`
    );
  if (Object.keys(result.chosen).length === 0)
    return `Every default kept: no value saved more than ${(margin * 100).toFixed(1)}% of a step.`;
  return `Kept ${describeValues(result.chosen)}: ${times} at the defaults (${result.ratio.toFixed(3)}×).`;
}
