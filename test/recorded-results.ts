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
 * 0.5967 → 0.6533, bs 32 unchanged (final loss +7e-6). Re-recorded when dropout masks came from a counter-based hash
 * keyed by one draw per mask (engine/dropout-bits.ts, so that a GPU makes them on the device) instead of one draw of
 * the stream per element: other masks, so other trajectories — accuracies 0.74, 0.6733, 0.91, 0.8333, 0.6533, 0.7433
 * became 0.74, 0.6767, 0.9167, 0.8333, 0.6533, 0.8533 (final losses within 0.01 at lr ≤ 0.003). Re-recorded when
 * evaluation batched its examples longest first (models/tokenizers/padding.ts's longestFirst): each example's
 * log-probabilities come from another batch shape, so the NLLs moved by ≤ 1.4e-8; training and accuracies unchanged.
 */
export const RECORDED_DEMO_SENTIMENT_SEED7 = [
  { lr: 0.001, bs: 16, steps: 300, finalTrainLoss: 0.4962644803524017, accuracy: 0.74, nll: 0.5301820494248426 },
  {
    lr: 0.001,
    bs: 32,
    steps: 150,
    finalTrainLoss: 0.5702585476636887,
    accuracy: 0.6766666666666666,
    nll: 0.609467451722889,
  },
  {
    lr: 0.003,
    bs: 16,
    steps: 300,
    finalTrainLoss: 0.23151083033531905,
    accuracy: 0.9166666666666666,
    nll: 0.1981256778577714,
  },
  {
    lr: 0.003,
    bs: 32,
    steps: 150,
    finalTrainLoss: 0.3616559025645256,
    accuracy: 0.8333333333333334,
    nll: 0.38901759383414763,
  },
  {
    lr: 0.01,
    bs: 16,
    steps: 300,
    finalTrainLoss: 0.6325084620714188,
    accuracy: 0.6533333333333333,
    nll: 0.6160148620679112,
  },
  {
    lr: 0.01,
    bs: 32,
    steps: 150,
    finalTrainLoss: 0.3332176569104195,
    accuracy: 0.8533333333333334,
    nll: 0.31519567177250113,
  },
] as const;
