#!/usr/bin/env bash
# The robustness study of docs/study/README.md, from a clean checkout with ../shared beside it:
#   npm ci && bash docs/study/run-study.sh
# Runs every sweep into docs/study/runs/<model>/ (SQLite run stores; rerunning resumes), then writes the reports:
# docs/study/report-<model>.md (accuracy), report-<model>-nll.md (NLL) and .html, and copies each store's results.json to docs/study/results-<model>.json.
# Grid points run two at a time (--jobs 2). Set STUDY_JOBS to change that.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SHARED="${SHARED:-../shared}"
STORIES="$SHARED/models/stories260K/hf"
[[ -f "$STORIES/config.json" && -d "$SHARED/data/sst2" ]] || {
  echo "run-study: needs $STORIES and $SHARED/data (set SHARED to the folder that holds models/ and data/)" >&2
  exit 2
}
[[ -f dist/src/commands/run.js ]] || npm run build
MCEVAL=(node bin/run.js)
JOBS="${STUDY_JOBS:-2}"
RUNS=docs/study/runs
COMMON=(--data "$SHARED/data" --quiet --jobs "$JOBS" --save-adapters none --resume)
LRS="1e-4,1e-3,3e-3,1e-2"
started=$SECONDS

for seed in 1 2 3; do
  # stories260K, SST-2: every adapter over 4 learning rates (two orders of magnitude) × 2 batch sizes, and the
  # untrained floor.
  "${MCEVAL[@]}" run --task sst2 --model "$STORIES" --out "$RUNS/stories260K" --seed "$seed" "${COMMON[@]}" \
    --adapter lora --adapter monteclora --adapter monteclora-reference --adapter dora --adapter full \
    --grid "lr=$LRS" --grid bs=16,32 --train-limit 512 --limit 400 --epochs 2
  "${MCEVAL[@]}" run --task sst2 --model "$STORIES" --out "$RUNS/stories260K" --seed "$seed" "${COMMON[@]}" \
    --adapter none --limit 400
  # stories260K, one generation task (GSM8K-format arithmetic, strict/flexible match and answer NLL).
  "${MCEVAL[@]}" run --task demo-arith --model "$STORIES" --out "$RUNS/stories260K" --seed "$seed" "${COMMON[@]}" \
    --adapter lora --adapter monteclora --adapter monteclora-reference --adapter dora --adapter full \
    --grid "lr=$LRS" --grid bs=16,32 --train-limit 128 --limit 100 --epochs 2
  "${MCEVAL[@]}" run --task demo-arith --model "$STORIES" --out "$RUNS/stories260K" --seed "$seed" "${COMMON[@]}" \
    --adapter none --limit 100
  # builtin:small (random weights, not pretrained) for contrast: LoRA and MonteCLoRA on SST-2.
  "${MCEVAL[@]}" run --task sst2 --model builtin:small --out "$RUNS/builtin-small" --seed "$seed" "${COMMON[@]}" \
    --adapter lora --adapter monteclora --grid "lr=$LRS" --grid bs=16,32 --train-limit 256 --limit 200 --epochs 2
done

for model in stories260K builtin-small; do
  "${MCEVAL[@]}" report "$RUNS/$model" --reference lora --format markdown --output "docs/study/report-$model.md"
  "${MCEVAL[@]}" report "$RUNS/$model" --reference lora --metric nll --format markdown \
    --output "docs/study/report-$model-nll.md"
  "${MCEVAL[@]}" report "$RUNS/$model" --reference lora --format html --output "docs/study/report-$model.html"
  cp "$RUNS/$model/results.json" "docs/study/results-$model.json"
done
echo "run-study: finished in $((SECONDS - started)) s" >&2
