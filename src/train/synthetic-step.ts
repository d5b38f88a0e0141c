/**
 * One causal-LM fine-tuning step of an adapter on seeded random tokens — forward, the adapter's own loss terms (as
 * fine-tuning adds them), backward, clipping at global norm 1, AdamW — awaiting its loss: the step `mceval tune` and the
 * GPU benchmarks time. Nothing in it reads a tensor synchronously, so it runs on webgpu. The adapter is drawn from
 * Rng(seed), the tokens and any dropout from Rng(seed + 1). Every token is a target unless `answer` restricts the
 * targets to each row's last `answer` tokens (a prompt masked out, as instruction fine-tuning does); `loss` replaces
 * mceval's causal-LM loss (an encoder's classification loss: `classificationStepLoss`).
 */
import { tf, type Scalar, type Variable } from '../engine/tf.js';
import { Rng } from '../engine/rng.js';
import type { ForwardContext } from '../models/forward-context.js';
import { ForwardConstants } from '../models/forward-constants.js';
import type { LlamaModel } from '../models/llama/model.js';
import type { PaddedBatch } from '../models/tokenizers/padding.js';
import { classificationHeadGroup, type AdapterMethod } from '../peft/types.js';
import { AdamW } from './adamw.js';
import { globalNormClipping } from './clip.js';
import { causalLmLoss, classificationLoss } from './loss.js';
import { requireDecoder, type Model } from '../models/model.js';

export interface CausalLmStep {
  /** One optimiser step; resolves to its loss. */
  step(): Promise<number>;
  /** What the steps train: the adapter's variables, and the model's own where they train too (full, a head). */
  readonly parameters: readonly Variable[];
  /** Frees the adapter and the optimizer (not the model). */
  dispose(): void;
}

export interface CausalLmStepSettings<M extends Model = LlamaModel> {
  readonly batch: number;
  readonly length: number;
  readonly seed: number;
  readonly answer?: number;
  readonly loss?: (model: M, batch: PaddedBatch, context: ForwardContext, targets?: Int32Array) => Scalar;
}

/** The decoder's causal-LM loss, the default step loss. */
function decoderLoss(model: Model, batch: PaddedBatch, context: ForwardContext, targets?: Int32Array): Scalar {
  return causalLmLoss(requireDecoder(model, 'The causal-LM step'), batch, context, targets);
}

/** A classification step's loss on a model with a head: labels alternate 0, 1 over the batch rows. */
export function classificationStepLoss(model: Model, batch: PaddedBatch, context: ForwardContext): Scalar {
  const labels = Array.from({ length: batch.batchSize }, (_, i) => i % 2);
  return classificationLoss(model.classify(batch, context), labels);
}

export function causalLmStep<Config, M extends Model = LlamaModel>(
  model: M,
  method: AdapterMethod<Config>,
  config: Config,
  { batch, length, seed, answer, loss: lossOf = decoderLoss }: CausalLmStepSettings<M>,
): CausalLmStep {
  const adapter = method.apply(model, config, new Rng(seed));
  // A classifier's head (an encoder's step) trains beside the adapter, as in a run and in peft's SEQ_CLS.
  const groups =
    model.headVariables().length === 0 ? adapter.groups : [...adapter.groups, classificationHeadGroup(model)];
  const optimizer = new AdamW(groups, { weightDecay: 0 });
  const rng = new Rng(seed + 1);
  const ids = Int32Array.from({ length: batch * length }, () => 1 + rng.integer(model.config.vocabSize - 1));
  const mask = new Int32Array(batch * length).fill(1);
  const input = { batchSize: batch, length, ids, mask };
  const targets =
    answer === undefined
      ? undefined
      : Int32Array.from({ length: batch * length }, (_, i) => +(i % length >= length - answer));
  return {
    parameters: optimizer.parameters,
    async step(): Promise<number> {
      // What a step's passes share, as fineTune's steps do (DoRA's weight norms, formed once a step).
      const constants = new ForwardConstants();
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const task = lossOf(model, input, { training: true, rng, constants }, targets);
          const extra = adapter.regularizer?.();
          return extra === undefined ? task : (tf.add(task, extra) as Scalar);
        }, optimizer.parameters);
        const gradients = optimizer.parameters.map((p) => grads[p.name] ?? tf.zerosLike(p));
        // Clipped at a global norm of 1, as every adapter preset and transformers' Trainer clip.
        const clip = globalNormClipping(gradients, 1);
        optimizer.apply(gradients, 1e-3, clip.coefficient, undefined, clip.joined);
        return value;
      });
      constants.dispose();
      const [value] = await loss.data();
      loss.dispose();
      return value!;
    },
    dispose() {
      optimizer.dispose();
      adapter.dispose();
    },
  };
}
