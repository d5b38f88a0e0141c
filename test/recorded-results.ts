/**
 * Recorded from `mceval run --task demo-sentiment --adapter lora --seed 7` (wasm, builtin:tiny, the preset's grid and
 * 3 epochs), results.csv columns lr, batch_size, steps, final_train_loss, accuracy, nll. Re-recorded when attention
 * moved to the WebAssembly kernel and RMSNorm, RoPE, SwiGLU and the LoRA layer got written-out gradients (issue 16):
 * float32 sums in a different order moved the final losses by ≤ 3e-7 at lr ≤ 0.003; at lr 0.01 the trajectories
 * drifted further (bs 32: final loss +1.3e-5, same accuracy; bs 16: accuracy 0.6133 → 0.6867). Re-recorded with
 * the plain-SIMD kernels (MCEVAL_RELAXED_SIMD=0; the same on every machine) when attention's exponential and blocking,
 * LoRA's weight gradients (Pᵀ·Q kernel) and dropout's bulk draws changed (issue 16, second part): final losses moved
 * by ≤ 6e-8 at lr ≤ 0.003; at lr 0.01 bs 16 accuracy 0.6867 → 0.5967, bs 32 0.74 → 0.7433. Re-recorded when the
 * cross-entropy became logsumexp(z) − z[label] with a written-out gradient (softmax − one-hot) in place of tfjs's
 * one-hot · log-softmax: final losses moved by ≤ 1e-7 at lr ≤ 0.003, the same accuracies; at lr 0.01 bs 16 accuracy
 * 0.5967 → 0.6533, bs 32 unchanged (final loss +7e-6).
 */
export const RECORDED_DEMO_SENTIMENT_SEED7 = [
  { lr: 0.001, bs: 16, steps: 300, finalTrainLoss: 0.49054545164108276, accuracy: 0.74, nll: 0.5312040937131651 },
  {
    lr: 0.001,
    bs: 32,
    steps: 150,
    finalTrainLoss: 0.5698862403631211,
    accuracy: 0.6733333333333333,
    nll: 0.6081124872509167,
  },
  { lr: 0.003, bs: 16, steps: 300, finalTrainLoss: 0.2241532374918461, accuracy: 0.91, nll: 0.23064773623421042 },
  {
    lr: 0.003,
    bs: 32,
    steps: 150,
    finalTrainLoss: 0.3532428002357483,
    accuracy: 0.8333333333333334,
    nll: 0.3882076412246603,
  },
  {
    lr: 0.01,
    bs: 16,
    steps: 300,
    finalTrainLoss: 0.6063510784506798,
    accuracy: 0.6533333333333333,
    nll: 0.5783556534419283,
  },
  {
    lr: 0.01,
    bs: 32,
    steps: 150,
    finalTrainLoss: 0.4526600116491318,
    accuracy: 0.7433333333333333,
    nll: 0.4806741585255055,
  },
] as const;
