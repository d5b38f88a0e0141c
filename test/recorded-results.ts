/**
 * Recorded from `mceval run --task demo-sentiment --adapter lora --seed 7` (wasm, builtin:tiny, the preset's grid and
 * 3 epochs), results.csv columns lr, batch_size, steps, final_train_loss, accuracy, nll. Re-recorded when attention
 * moved to the WebAssembly kernel and RMSNorm, RoPE, SwiGLU and the LoRA layer got written-out gradients (issue 16):
 * float32 sums in a different order moved the final losses by ≤ 3e-7 at lr ≤ 0.003; at lr 0.01 the trajectories
 * drifted further (bs 32: final loss +1.3e-5, same accuracy; bs 16: accuracy 0.6133 → 0.6867).
 */
export const RECORDED_DEMO_SENTIMENT_SEED7 = [
  { lr: 0.001, bs: 16, steps: 300, finalTrainLoss: 0.49054545402526856, accuracy: 0.74, nll: 0.5312040842783421 },
  {
    lr: 0.001,
    bs: 32,
    steps: 150,
    finalTrainLoss: 0.5698862361907959,
    accuracy: 0.6733333333333333,
    nll: 0.6081124780842982,
  },
  { lr: 0.003, bs: 16, steps: 300, finalTrainLoss: 0.22415327545255423, accuracy: 0.91, nll: 0.23064791099047033 },
  {
    lr: 0.003,
    bs: 32,
    steps: 150,
    finalTrainLoss: 0.3532427388429642,
    accuracy: 0.8333333333333334,
    nll: 0.388207502888215,
  },
  {
    lr: 0.01,
    bs: 16,
    steps: 300,
    finalTrainLoss: 0.5807334369421006,
    accuracy: 0.6866666666666666,
    nll: 0.5383546854048743,
  },
  { lr: 0.01, bs: 32, steps: 150, finalTrainLoss: 0.45281239330768586, accuracy: 0.74, nll: 0.4809018813914342 },
] as const;
