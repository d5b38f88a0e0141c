/**
 * Loads a Hugging Face model folder (config.json + safetensors weights + tokenizer files) into the same LlamaModel
 * class the builtin models use: the checkpoint is just another WeightInit.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { tf } from '../../engine/tf.js';
import { LlamaModel, type WeightInit } from '../llama/model.js';
import { parseLlamaConfig } from './llama-config.js';
import { Checkpoint } from './checkpoint.js';
import { EncoderModel } from '../encoder/model.js';
import { parseEncoderConfig, type EncoderConfig } from '../encoder/config.js';
import { randomWeightInit } from '../init.js';
import { Rng } from '../../engine/rng.js';

export function readConfigJson(dir: string): Record<string, unknown> {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) {
    throw new UserError(
      `${dir} has no config.json: a Hugging Face model folder needs config.json next to its weights.`,
    );
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    throw new UserError(`${path} is not valid JSON.`);
  }
}

/** Checkpoint tensors as the model asks for them: linear weights transposed from [out, in] to [in, out]. */
export function checkpointWeightInit(checkpoint: Checkpoint): WeightInit {
  return (name, shape, role) => {
    if (role !== 'linear') return tf.tensor(checkpoint.read(name, shape), shape);
    const [inFeatures, outFeatures] = shape as [number, number];
    const stored = tf.tensor2d(checkpoint.read(name, [outFeatures, inFeatures]), [outFeatures, inFeatures]);
    const transposed = tf.transpose(stored);
    stored.dispose();
    return transposed;
  };
}

/** `wrapInit` sees every weight as it is made (a sweep's base-model cache records them). */
export function loadLlamaFolder(dir: string, wrapInit: (init: WeightInit) => WeightInit = (init) => init): LlamaModel {
  const raw = readConfigJson(dir);
  const modelType = raw['model_type'];
  if (isEncoderType(modelType)) throw encoderNotDecoder(dir, modelType);
  if (modelType !== 'llama') {
    throw new UserError(
      `${join(dir, 'config.json')}: model_type "${String(modelType)}" is not supported; mceval loads llama, bert ` +
        'and roberta models.',
    );
  }
  const parsed = parseLlamaConfig(raw, join(dir, 'config.json'));
  const checkpoint = Checkpoint.open(dir);
  try {
    return new LlamaModel(parsed, wrapInit(checkpointWeightInit(checkpoint)));
  } finally {
    checkpoint.close();
  }
}

/**
 * Encoder checkpoints spell their tensors three ways: a task model's ("roberta.encoder…", bert-base-uncased's
 * BertForPreTraining), a bare BertModel/RobertaModel saved alone (no "bert."/"roberta." prefix), and TF-era BERT's
 * LayerNorm.gamma/beta for weight/bias. Each name the model asks for is read in whichever spelling the checkpoint
 * has. BERT's pooler, absent from checkpoints saved without one, is drawn as transformers draws a missing weight
 * (normal(0, initializer_range), bias 0), from a fixed seed.
 */
function encoderWeightInit(checkpoint: Checkpoint, config: EncoderConfig): WeightInit {
  const read = checkpointWeightInit(checkpoint);
  const prefix = `${config.modelType}.`;
  const bare =
    !checkpoint.has(`${prefix}embeddings.word_embeddings.weight`) &&
    checkpoint.has('embeddings.word_embeddings.weight');
  const spelled = (name: string): string => {
    const stored = bare && name.startsWith(prefix) ? name.slice(prefix.length) : name;
    if (checkpoint.has(stored)) return stored;
    const legacy = stored
      .replace(/LayerNorm\.weight$/, 'LayerNorm.gamma')
      .replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    return checkpoint.has(legacy) ? legacy : stored;
  };
  const missingPooler = randomWeightInit(new Rng(0), config.initializerRange);
  return (name, shape, role) => {
    const stored = spelled(name);
    if (name.startsWith(`${prefix}pooler.`) && !checkpoint.has(stored)) return missingPooler(name, shape, role);
    return read(stored, shape, role);
  };
}

/** What generation and scoring say when handed an encoder's folder. */
export function encoderNotDecoder(dir: string, modelType: string): UserError {
  return new UserError(
    `${dir} is a ${modelType} encoder: mceval fine-tunes encoders on classification tasks (\`mceval run\`); ` +
      'generation and scoring need a llama model.',
  );
}

/** Whether a config.json's model_type is one of the encoders mceval loads. */
export function isEncoderType(modelType: unknown): modelType is 'bert' | 'roberta' {
  return modelType === 'bert' || modelType === 'roberta';
}

/**
 * A BERT or RoBERTa encoder from a Hugging Face folder (a base checkpoint such as roberta-base, or a fine-tuned
 * classifier). With `withCheckpointHead`, its sequence-classification head comes from the checkpoint too, the label
 * count from its classifier; otherwise the caller adds a head for its task.
 */
export function loadEncoderFolder(
  dir: string,
  { withCheckpointHead = true, wrapInit = (init: WeightInit) => init } = {},
): EncoderModel {
  const config = parseEncoderConfig(readConfigJson(dir), join(dir, 'config.json'));
  const checkpoint = Checkpoint.open(dir);
  try {
    const init = encoderWeightInit(checkpoint, config);
    const model = new EncoderModel(config, wrapInit(init));
    if (!withCheckpointHead) return model;
    try {
      const head = config.modelType === 'bert' ? 'classifier.weight' : 'classifier.out_proj.weight';
      if (!checkpoint.has(head)) throw new UserError(`${dir}: no "${head}": not a sequence classifier's checkpoint.`);
      model.addClassificationHead(checkpoint.shapeOf(head)[0]!, init);
      return model;
    } catch (error) {
      model.dispose();
      throw error;
    }
  } finally {
    checkpoint.close();
  }
}
