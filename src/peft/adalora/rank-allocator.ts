/**
 * AdaLoRA's importance scores and budget allocation (PEFT's RankAllocator), updated after each optimiser step:
 *   sensitivity I = |θ ⊙ ∇θ|, Ī ← β₁Ī + (1−β₁)I, Ū ← β₂Ū + (1−β₂)|I − Ī|, element score = Ī ⊙ Ū;
 *   triplet score = score(E_i) + mean over A's row i + mean over B's column i (PEFT's orientation);
 * then the lowest-scoring triplets are pruned (E_i ← 0) down to the scheduled budget.
 */
import { tf, type Tensor, type Variable } from '../../engine/tf.js';
import { newVariable } from '../../engine/variables.js';
import type { StepUpdate } from '../types.js';
import type { AdaLoraConfig } from './config.js';
import type { AdaLoraLayer } from './layer.js';
import { budgetAt, keepMasks, type BudgetSchedule } from './budget.js';

interface Importance {
  readonly average: Variable;
  readonly uncertainty: Variable;
}

export class RankAllocator {
  private importance = new Map<Variable, Importance>();
  /** Pruning decided in afterStep, carried out in settle (it reads the triplet scores back). */
  private pending: { readonly budget: number; readonly reset: boolean } | undefined;
  /** The budget of the last update, for the logs. */
  budget: number;

  constructor(
    private readonly layers: readonly AdaLoraLayer[],
    private readonly config: AdaLoraConfig,
  ) {
    this.budget = this.initialBudget;
  }

  get initialBudget(): number {
    return this.layers.reduce((sum, layer) => sum + layer.rank, 0);
  }

  /** After optimiser update number `update.step` (1-based); PEFT's global_step is the count before it. */
  afterStep(update: StepUpdate): void {
    const globalStep = update.step - 1;
    const { tinit, tfinal, deltaT, targetR } = this.config;
    const schedule: BudgetSchedule = {
      initialBudget: this.initialBudget,
      targetBudget: targetR * this.layers.length,
      tinit,
      tfinal,
      deltaT,
      totalSteps: update.totalSteps,
    };
    const finalStep = update.totalSteps - tfinal;
    if (globalStep < finalStep) {
      this.updateImportance(update.gradients);
      const { budget, mask } = budgetAt(globalStep, schedule);
      this.budget = budget;
      if (mask) this.pending = { budget, reset: false };
    } else if (globalStep === finalStep) {
      const { budget } = budgetAt(globalStep, schedule);
      this.budget = budget;
      this.pending = { budget, reset: true };
    } else {
      this.layers.forEach((layer) => layer.applyKeptTriplets());
    }
  }

  private updateImportance(gradients: ReadonlyMap<Variable, Tensor>): void {
    const { beta1, beta2 } = this.config;
    tf.tidy(() => {
      for (const parameter of this.layers.flatMap((layer) => layer.variables())) {
        const gradient = gradients.get(parameter);
        if (gradient === undefined) continue;
        let state = this.importance.get(parameter);
        if (state === undefined) {
          state = {
            average: newVariable(() => tf.zerosLike(parameter), false),
            uncertainty: newVariable(() => tf.zerosLike(parameter), false),
          };
          this.importance.set(parameter, state);
        }
        const sensitivity = tf.abs(tf.mul(parameter, gradient));
        const average = tf.add(tf.mul(state.average, beta1), tf.mul(sensitivity, 1 - beta1));
        state.average.assign(average);
        state.uncertainty.assign(
          tf.add(tf.mul(state.uncertainty, beta2), tf.mul(tf.abs(tf.sub(sensitivity, average)), 1 - beta2)),
        );
      }
    });
  }

  private elementScore(parameter: Variable): Tensor {
    const state = this.importance.get(parameter);
    return state === undefined ? tf.zerosLike(parameter) : tf.mul(state.average, state.uncertainty);
  }

  /**
   * The pruning the last step decided, once that step's tensors are released: the scores are read back
   * asynchronously, so backends without synchronous reads (WebGPU) can run AdaLoRA too. Same order as PEFT: mask,
   * then (at the final budget step) reset the importance.
   */
  async settle(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (pending === undefined) return;
    await this.maskToBudget(pending.budget);
    if (pending.reset) this.resetImportance();
  }

  /** Each layer's triplet scores (PEFT's _combine_ipt). */
  async tripletScores(): Promise<number[][]> {
    return Promise.all(
      this.layers.map(async (layer) => {
        const score = tf.tidy(() =>
          tf.add(
            tf.add(this.elementScore(layer.loraE), tf.mean(this.elementScore(layer.loraA), 0)),
            tf.mean(this.elementScore(layer.loraB), 1),
          ),
        );
        try {
          return Array.from(await score.data());
        } finally {
          score.dispose();
        }
      }),
    );
  }

  private async maskToBudget(budget: number): Promise<void> {
    const pattern = keepMasks(await this.tripletScores(), this.initialBudget, budget);
    this.layers.forEach((layer, i) => {
      layer.keptTriplets = pattern[i];
      layer.applyKeptTriplets();
    });
  }

  private resetImportance(): void {
    this.importance.forEach((state) => {
      state.average.dispose();
      state.uncertainty.dispose();
    });
    this.importance = new Map();
  }

  dispose(): void {
    this.resetImportance();
  }
}
