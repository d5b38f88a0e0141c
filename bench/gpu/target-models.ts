/**
 * The models beside `--model` that the GPU kit takes its targets on, from the kit's arguments, named as
 * torch_step.py names the same steps (targets.ts pairs them by name): stories260K from `--stories DIR` (32 × the
 * step's length) and a RoBERTa-base-shaped classifier with random weights, the MonteCLoRA paper's GLUE setting
 * (`--encoder` batch × length, 32 × 128 by default; `--encoder-layers` 12, `--encoder-hidden` 768; 0x0 leaves it out).
 * Each is loaded when asked for.
 */
import { loadLlamaFolder } from '../../src/models/hf/load-folder.js';
import type { Model } from '../../src/models/model.js';
import { argument } from '../options.js';
import { robertaShaped } from '../random-encoder.js';

export interface TargetModelSpec {
  readonly name: string;
  load(): Model;
  readonly batch: number;
  readonly length: number;
}

/** stories260K's and the RoBERTa shape's steps where the arguments ask for them; `length` is the decoders' step's. */
export function otherTargetModels(length: number): TargetModelSpec[] {
  const specs: TargetModelSpec[] = [];
  const stories = argument('stories', '');
  if (stories !== '') specs.push({ name: 'stories260K', load: () => loadLlamaFolder(stories), batch: 32, length });
  const [encoderBatch, encoderLength] = argument('encoder', '32x128').split('x').map(Number);
  const layers = Number(argument('encoder-layers', '12'));
  const hidden = Number(argument('encoder-hidden', '768'));
  if (encoderBatch! > 0)
    specs.push({
      name: `roberta-base shape (${layers} layers, hidden ${hidden}, random)`,
      load: () => robertaShaped(layers, hidden),
      batch: encoderBatch!,
      length: encoderLength!,
    });
  return specs;
}
