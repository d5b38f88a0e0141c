/**
 * Recorded from `mceval run --task demo-sentiment --adapter lora --seed 7` at commit ed66a5f (wasm, builtin:tiny,
 * the preset's grid and 3 epochs), results.csv columns lr, batch_size, steps, final_train_loss, accuracy, nll.
 */
export const RECORDED_DEMO_SENTIMENT_SEED7 = [
  { lr: 0.001, bs: 16, steps: 300, finalTrainLoss: 0.4905454424023628, accuracy: 0.74, nll: 0.5312040413533393 },
  {
    lr: 0.001,
    bs: 32,
    steps: 150,
    finalTrainLoss: 0.5698862510919571,
    accuracy: 0.6733333333333333,
    nll: 0.6081124868962009,
  },
  { lr: 0.003, bs: 16, steps: 300, finalTrainLoss: 0.2241534497216344, accuracy: 0.91, nll: 0.23064808417028065 },
  {
    lr: 0.003,
    bs: 32,
    steps: 150,
    finalTrainLoss: 0.3532427659630775,
    accuracy: 0.8333333333333334,
    nll: 0.38820752143672604,
  },
  {
    lr: 0.01,
    bs: 16,
    steps: 300,
    finalTrainLoss: 0.5811690115928649,
    accuracy: 0.6133333333333333,
    nll: 0.5795237479217518,
  },
  { lr: 0.01, bs: 32, steps: 150, finalTrainLoss: 0.45279968082904815, accuracy: 0.74, nll: 0.4808801303310376 },
] as const;
